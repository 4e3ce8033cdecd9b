"""oumi's synthesis keys as oumi's code reads them: chat_transform's mapping, max_consecutive_tool_turns,
the remote params (api_url with engine REMOTE, adaptive concurrency, backoff, token budgets), and
`envsim validate` naming every difference."""

from __future__ import annotations

from pathlib import Path

import pytest
from config_helpers import MODEL, WriteFile, config_errors
from typer.testing import CliRunner

from envsim.api import run_config
from envsim.cli import app
from envsim.config.loader import load_config
from envsim.config.summary import build_summary
from envsim.models.limits import LimitSettings
from envsim.models.retry import RetryPolicy
from envsim.testing import FakeModelServer

CHAT_MAPPING = """
strategy_params:
  sampled_attributes:
    - id: tone
      name: Tone
      description: how to speak
      possible_values: [{id: calm, name: Calm, description: slow}]
  transformed_attributes:
    - id: conversation
      transformation_strategy:
        type: CHAT
        chat_transform:
          messages:
            - {role: USER, content: "Say it {tone}."}
            - {role: ASSISTANT, content: "Fine."}
"""


def test_chat_transform_mapping_and_bare_list_mean_the_same(write: WriteFile) -> None:
    mapping = load_config(write("a.yaml", CHAT_MAPPING, MODEL))
    bare = load_config(
        write(
            "b.yaml",
            CHAT_MAPPING.replace(
                "chat_transform:\n          messages:\n            - {role: USER",
                "chat_transform:\n            - {role: USER",
            ),
            MODEL,
        )
    )
    get = lambda c: c.strategy_params.transformed_attributes[0].transformation_strategy.chat_transform  # noqa: E731
    assert get(mapping) == get(bare)
    assert [m.content for m in get(mapping).messages] == ["Say it {tone}.", "Fine."]


def multiturn(*keys: str) -> str:
    extra = "".join(f"      {key}\n" for key in keys)
    return (
        "strategy_params:\n  multiturn_attributes:\n    - id: chat\n      min_turns: 1\n      max_turns: 2\n"
        "      role_instruction_messages: {USER: u, ASSISTANT: a}\n" + extra
    )


def test_max_consecutive_tool_turns_is_the_tool_round_limit(write: WriteFile) -> None:
    config = load_config(write("c.yaml", multiturn("max_consecutive_tool_turns: 7"), MODEL))
    assert config.strategy_params.multiturn_attributes[0].max_tool_rounds == 7


def test_both_names_of_the_limit_must_agree(write: WriteFile) -> None:
    path = write("c.yaml", multiturn("max_consecutive_tool_turns: 7", "max_tool_rounds: 3"), MODEL)
    errors = config_errors(path)
    assert any("two names for the same limit" in e.message for e in errors)


REMOTE = """
inference_config:
  engine: REMOTE
  model: {model_name: my-model}
  remote_params:
    api_url: {url}
    api_key_env_varname: MY_KEY
    num_workers: 3
    use_adaptive_concurrency: false
    retry_backoff_base: 0.5
    retry_backoff_max: 4
    input_tokens_per_minute: 1000
    output_tokens_per_minute: 500
    user_id: someone
"""


def test_remote_params_are_honoured(write: WriteFile) -> None:
    config = load_config(write("r.yaml", REMOTE.replace("{url}", "http://127.0.0.1:9/v1/chat/completions")))
    inference = config.inference_config
    assert inference.model.base_url == "http://127.0.0.1:9/v1"
    assert inference.model.api_key_env == "MY_KEY"
    remote = inference.remote_params
    assert remote.tokens_per_minute == 1500
    limits = LimitSettings.from_remote_params(remote)
    assert limits.min_concurrency == limits.max_concurrency == 3  # not adaptive
    retry = RetryPolicy.from_remote_params(remote)
    assert (retry.initial_delay, retry.max_delay) == (0.5, 4)


def test_adaptive_concurrency_is_the_default(write: WriteFile) -> None:
    config = load_config(write("r.yaml", MODEL))
    assert LimitSettings.from_remote_params(config.inference_config.remote_params).min_concurrency == 1


async def test_engine_remote_with_api_url_runs(
    write: WriteFile, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_KEY", "test-key")
    async with FakeModelServer(lambda request: "a generated name") as server:
        body = REMOTE.replace("{url}", f"{server.openai_base_url}/chat/completions")
        attributes = """
strategy_params:
  generated_attributes:
    - id: name
      instruction_messages: [{role: USER, content: Give a name.}]
"""
        path = write("remote.yaml", f"output_path: {tmp_path / 'out.jsonl'}\n", attributes, body)
        summary = await run_config(path, out_dir=tmp_path / "run", num_samples=2)
    assert summary.ok and summary.dataset_written == 2
    assert (tmp_path / "out.jsonl").read_text(encoding="utf-8").count("a generated name") == 2


def test_validate_prints_one_line_per_difference(write: WriteFile) -> None:
    path = write("c.yaml", multiturn("max_consecutive_tool_turns: 7"), REMOTE.replace("{url}", "http://x/v1"))
    result = CliRunner().invoke(app, ["validate", str(path)], terminal_width=400)
    assert result.exit_code == 0, result.output
    printed = " ".join(result.output.split("differences from oumi synth with this config:")[1].split())
    assert "max_consecutive_tool_turns: oumi's name for envsim's max_tool_rounds" in printed
    assert "use_adaptive_concurrency: false keeps concurrency at num_workers" in printed
    assert "user_id: accepted, not sent" in printed
    differences = build_summary(load_config(path)).oumi_differences
    assert printed.count("- inference_config.") + printed.count("- strategy_params.") + printed.count(
        "- output_path"
    ) == len(differences)


def test_validate_names_the_native_spelling_of_chat_transform(write: WriteFile) -> None:
    differences = build_summary(load_config(write("a.yaml", CHAT_MAPPING, MODEL))).oumi_differences
    assert any("oumi's {messages: [...]} form; envsim's native one is the bare list" in line for line in differences)

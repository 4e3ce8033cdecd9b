"""The rest of oumi's inference keys: the sampling and tool keys its remote engines send (on the wire to
a local endpoint), the model and generation keys only its in-process engines read (accepted, listed by
`envsim validate`), `input_path`/`output_path` (refused for synthesis, as in oumi) and oumi's hosted
engines (their URL and key variable)."""

from __future__ import annotations

from pathlib import Path

import pytest
from config_helpers import config_errors
from conftest import WriteFile

from envsim.api import run_config
from envsim.config.loader import load_config
from envsim.config.models import ModelSpec
from envsim.config.summary import build_summary
from envsim.errors import ConfigError
from envsim.messages import Message
from envsim.models.base import GenerationParams, ModelRequest
from envsim.models.registry import model_ref_from_spec
from envsim.testing import FakeModelServer

GENERATED = """
strategy_params:
  generated_attributes:
    - id: name
      instruction_messages: [{role: USER, content: Give a name.}]
"""
SAMPLING = """
inference_config:
  engine: REMOTE
  model: {model_name: local-model}
  remote_params: {api_url: "{url}"}
  generation:
    max_new_tokens: 64
    frequency_penalty: 0.5
    presence_penalty: -0.25
    logit_bias: {50256: -100}
    min_p: 0.05
    stop_token_ids: [7, 9]
"""


async def test_remote_sampling_keys_reach_the_server(
    write: WriteFile, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "local-key")
    async with FakeModelServer(lambda request: "Ann") as server:
        inference = SAMPLING.replace("{url}", f"{server.openai_base_url}/chat/completions")
        path = write("s.yaml", GENERATED, inference)
        summary = await run_config(path, out_dir=tmp_path / "run", num_samples=1, no_cache=True)
        (body,) = [entry.body for entry in server.log]
    assert summary.ok, summary.recent_errors
    assert body["frequency_penalty"] == 0.5 and body["presence_penalty"] == -0.25
    assert body["logit_bias"] == {"50256": -100} and body["min_p"] == 0.05 and body["stop_token_ids"] == [7, 9]


TOOLS = """
environment_config:
  environments:
    - id: shop
      type: deterministic
      tools:
        - id: find_order
          description: Find an order.
          parameters: {type: object, properties: {order_id: {type: string}}}
          default_output: {status: shipped}
strategy_params:
  multiturn_attributes:
    - id: chat
      min_turns: 1
      max_turns: 1
      max_tool_rounds: 1
      role_instruction_messages: {USER: You ask about an order., ASSISTANT: You look orders up.}
inference_config:
  model: {model_name: gpt-4o-mini, engine: OPENAI}
  generation:
    tool_choice: {type: function, function: {name: find_order}}
    parallel_tool_calls: false
"""


async def test_tool_choice_and_parallel_tool_calls_apply_to_the_assistant(
    write: WriteFile, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "local-key")
    path = write("t.yaml", TOOLS)
    assert load_config(path).inference_config.generation.tool_choice == "find_order"
    async with FakeModelServer() as server:
        summary = await run_config(
            path,
            out_dir=tmp_path / "run",
            model_override=f"openai:gpt-4o-mini@{server.openai_base_url}",
            no_cache=True,
        )
        bodies = [entry.body for entry in server.log]
    assert summary.ok, summary.recent_errors
    with_tools = [b for b in bodies if b.get("tools")]
    # The configured choice where envsim leaves it open; the forced final answer still says none.
    assert [b["tool_choice"] for b in with_tools] == [{"type": "function", "function": {"name": "find_order"}}, "none"]
    assert all(b["parallel_tool_calls"] is False for b in with_tools)
    assert not any("tool_choice" in b or "parallel_tool_calls" in b for b in bodies if not b.get("tools"))


LOCAL_ONLY = """
inference_config:
  model:
    model_name: gpt-4o-mini
    tokenizer_name: gpt2
    model_max_length: 4096
    trust_remote_code: true
    torch_dtype_str: bfloat16
  engine: OPENAI
  progress_path: progress.json
  generation: {batch_size: 8, num_beams: 1, use_sampling: true, guided_decoding: {json: {type: object}}}
"""


def test_keys_of_oumis_local_engines_are_accepted_and_listed(write: WriteFile) -> None:
    config = load_config(write("l.yaml", GENERATED, LOCAL_ONLY))
    assert config.inference_config.model.model_max_length == 4096
    lines = build_summary(config).oumi_differences
    assert any(
        line.startswith("inference_config.model: tokenizer_name, model_max_length, trust_remote_code") for line in lines
    )
    assert any(line.startswith("inference_config.generation: batch_size, num_beams, use_sampling") for line in lines)
    assert any(line.startswith("inference_config.generation.guided_decoding is not applied") for line in lines)
    assert any(line.startswith("inference_config.progress_path: accepted, not written") for line in lines)


@pytest.mark.parametrize("key", ["input_path", "output_path"])
def test_inference_input_and_output_paths_are_refused_as_in_oumi(write: WriteFile, key: str) -> None:
    path = write("p.yaml", GENERATED, f"inference_config:\n  model: {{model_name: gpt-4o-mini}}\n  {key}: x.jsonl\n")
    (error,) = config_errors(path)
    assert error.location == f"inference_config.{key}"
    assert "is not supported for synthesis (as in oumi)" in error.message


def test_oumis_hosted_engines_have_their_url_and_key_variable() -> None:
    ref = model_ref_from_spec(ModelSpec(model_name="meta-llama/Llama-3.3-70B-Instruct-Turbo", engine="TOGETHER"))
    assert (ref.provider, ref.base_url) == ("openai", "https://api.together.xyz/v1")
    ref = model_ref_from_spec(
        ModelSpec(model_name="deepseek-chat", engine="DEEPSEEK", base_url="http://127.0.0.1:1/v1")
    )
    assert ref.base_url == "http://127.0.0.1:1/v1"  # an explicit base_url wins


async def test_a_hosted_engine_reads_its_own_key_variable(
    write: WriteFile, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOGETHER_API_KEY", "together-key")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    async with FakeModelServer(lambda request: "Bo", api_key="together-key") as server:  # refuses other keys
        inference = (
            f"inference_config:\n  engine: TOGETHER\n  model: {{model_name: m, base_url: '{server.openai_base_url}'}}\n"
        )
        path = write("h.yaml", GENERATED, inference)
        summary = await run_config(path, out_dir=tmp_path / "run", num_samples=1, no_cache=True)
        statuses = [entry.status for entry in server.log]
    assert summary.ok and summary.done == 1, summary.recent_errors
    assert statuses == [200]


@pytest.mark.parametrize("engine", ["NATIVE", "BEDROCK", "GOOGLE_VERTEX"])
def test_engines_envsim_cannot_stand_in_for_say_what_to_use(engine: str) -> None:
    with pytest.raises(ConfigError) as info:
        model_ref_from_spec(ModelSpec(model_name="m", engine=engine))
    assert info.value.location == "inference_config.model.engine"
    assert info.value.hint is not None and "engine:" in info.value.hint


def test_requests_without_the_new_keys_keep_their_cache_keys() -> None:
    # The response cache and the mock's replies are keyed by the request's JSON: unset oumi keys add nothing.
    plain = GenerationParams(temperature=0.5, seed=3)
    assert set(plain.model_dump(mode="json")) == {"temperature", "top_p", "max_tokens", "seed", "stop"}
    request = ModelRequest(messages=[Message.user("hi")], params=plain)
    tuned = request.model_copy(update={"params": plain.model_copy(update={"min_p": 0.1})})
    assert request.canonical_key("m") != tuned.canonical_key("m")

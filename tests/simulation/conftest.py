"""Config files for end-to-end run tests: a mock-model config, optionally slowed down or failing."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

CONFIG = """\
num_samples: {num_samples}
seed: 3
output_path: {output}  # absolute: relative ones resolve against the working directory
environment_config:
  environments:
    - id: weather
      type: deterministic
      tools:
        - id: get_weather
          description: Weather for a city.
          parameters: {{type: object, properties: {{city: {{type: string}}}}, required: [city]}}
          deterministic_outputs: [{{input: {{city: Paris}}, output: {{temp: 20}}}}]
          default_output: {{temp: 15}}
strategy_params:
  sampled_attributes:
    - id: mood
      possible_values: [{{id: calm}}, {{id: angry}}]
  multiturn_attributes:
    - id: chat
      min_turns: 1
      max_turns: 2
      role_instruction_messages: {{USER: "You are a {{mood}} traveller.", ASSISTANT: "Help the traveller."}}
      output_system_prompt: You are a travel assistant.
inference_config:
  model: {{model_name: "{model}"}}
  remote_params: {{num_workers: 4, max_retries: 0}}
  cache: {{path: cache}}
"""

REPLIES = """\
import asyncio

from envsim.errors import ModelAuthError, ModelError
from envsim.models.mock import MockModel

_mock = MockModel("replies")


async def slow(request):
    await asyncio.sleep(0.05)
    return _mock.reply(request)


def auth_fails(request):
    raise ModelAuthError("the API key was refused (HTTP 401)")


def always_fails(request):
    raise ModelError("HTTP 400: the model rejected the request")
"""


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[..., Path]:
    """`write_config(model="mock:test", num_samples=6)` -> path of a config in its own folder."""

    def write(model: str = "mock:test", num_samples: int = 6, name: str = "travel") -> Path:
        folder = tmp_path / name
        folder.mkdir(exist_ok=True)
        (folder / "replies.py").write_text(REPLIES, encoding="utf-8")
        path = folder / f"{name}.yaml"
        path.write_text(
            textwrap.dedent(CONFIG.format(model=model, num_samples=num_samples, output=folder / "out/data.jsonl")),
            encoding="utf-8",
        )
        return path

    return write


@pytest.fixture(autouse=True)
def _runs_may_share_the_dataset_file(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests run one config into several run directories and do not look at who owns its dataset
    file; the refusal to overwrite another run's dataset is tested in tests/hardening/test_output_path.py."""
    import envsim.runs.execute
    from envsim.recording.output_owner import check_output_owner

    def allow(output: Path, run_dir: Path, *, force: bool) -> None:
        check_output_owner(output, run_dir, force=True)

    monkeypatch.setattr(envsim.runs.execute, "check_output_owner", allow)

"""Run-stopping errors stop attribute-only runs too, and their episodes stay resumable (issue 12, problems
3 and 4); a refused parameter stops a conversation run with the parameter and the config key."""

from __future__ import annotations

from pathlib import Path

import pytest

from envsim.api import run_config
from envsim.errors import CircuitOpenError, RequestRefusedError
from envsim.recording import RunDirectory, RunState
from envsim.testing.fake_server import FakeModelServer

ATTRIBUTES = """
num_samples: 6
seed: 1
strategy_params:
  sampled_attributes:
    - id: product
      possible_values: [{{id: tea, name: tea}}, {{id: mug, name: mug}}]
  generated_attributes:
    - id: review
      instruction_messages:
        - {{role: USER, content: "Review the {{product}} as JSON."}}
      output_schema: {{type: object, properties: {{stars: {{type: integer}}}}, required: [stars]}}
inference_config:
  model: {{model_name: "openai:smollm2@{url}", structured_output: {mode}}}
  remote_params: {{num_workers: 2, max_retries: 1}}
  cache: {{enabled: false}}
"""


def write(tmp_path: Path, url: str, mode: str = "auto") -> Path:
    config = tmp_path / "attributes.yaml"
    config.write_text(ATTRIBUTES.format(url=url, mode=mode))
    return config


async def test_a_refused_parameter_stops_an_attribute_run_and_leaves_it_resumable(tmp_path: Path) -> None:
    async with FakeModelServer(lambda request: '{"stars": 4}', emulate="llama-cpp-python") as server:
        config = write(tmp_path, server.openai_base_url, mode="json_schema")
        with pytest.raises(RequestRefusedError) as caught:
            await run_config(config, out_dir=tmp_path / "run", status_interval_s=60)
        assert "inference_config.model.structured_output" in (caught.value.hint or "")
        assert server.count <= 2  # one refusal per open episode at most: nothing retried
        with RunDirectory.open(tmp_path / "run", manifest=None) as run:
            status = run.status()
            assert status.state is RunState.ERROR
            assert "response_format" in " ".join(status.detailed_status)
            assert run.finished_episode_ids() == set()  # nothing recorded as failed: a resume redoes all

        # The same run, resumed against a server that accepts the request, completes every episode.
        config.write_text(config.read_text().replace("structured_output: json_schema", "structured_output: auto"))
        summary = await run_config(config, out_dir=tmp_path / "run", force=True, status_interval_s=60)
    assert summary.ok and summary.done == 6 and summary.failed == 0


async def test_auto_structured_output_completes_against_the_same_server(tmp_path: Path) -> None:
    async with FakeModelServer(lambda request: '{"stars": 4}', emulate="llama-cpp-python") as server:
        summary = await run_config(write(tmp_path, server.openai_base_url), out_dir=tmp_path / "run")
        assert summary.ok and summary.done == 6
        assert {e.body["response_format"]["type"] for e in server.log} == {"json_object"}


async def test_an_open_breaker_stops_an_attribute_run_instead_of_failing_every_episode(tmp_path: Path) -> None:
    async with FakeModelServer(lambda request: '{"stars": 4}') as server:
        server.faults.inject("server_error", times=1000)
        config = write(tmp_path, server.openai_base_url)
        with pytest.raises(CircuitOpenError):
            await run_config(config, out_dir=tmp_path / "run", status_interval_s=60)
    with RunDirectory.open(tmp_path / "run", manifest=None) as run:
        assert run.status().state is RunState.ERROR
        failed = list(run.traces(include_failed=True))
    # Episodes that failed before the breaker opened are real failures; none is "the breaker is open",
    # and the rest stay unrecorded, so a resume simulates them.
    assert len(failed) < 6
    assert not any("stopped calling model endpoint" in (t.error or "") for t in failed)

"""A whole run against a faulty endpoint: the dataset file and every export hold no envsim error string.

The fake model server answers some requests with transport faults (500s, truncated JSON bodies, calls
with malformed arguments), and its simulated tools (the synthetic environment's model) reply garbage
often enough that some steps end with "gave no valid reply": an infrastructure error. Those episodes
must be named in the run summary and in `envsim status`, and be in no training file.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from envsim.api import RunSummary, run_config
from envsim.cli import app
from envsim.models.base import ModelRequest, ModelResponse
from envsim.models.mock import MockModel
from envsim.recording import RunDirectory
from envsim.recording.clean import infrastructure_errors
from envsim.recording.exporters import EXPORT_FORMATS, export_run
from envsim.simulation.progress import summary_table
from envsim.testing.fake_server import FakeModelServer
from envsim.testing.fake_server.faults import FaultPlan

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "support_chat.yaml"
KEY = "sk-test-fault-run"

# What envsim writes when it (or a model behind it) fails: none of it may reach a training file.
ENVSIM_ERROR_STRINGS = (
    "gave no valid reply",
    "the output does not match the tool's output_schema",
    "model failed",
    "gave up after",
    "fake server",
    "HTTP 500",
    "reply is not valid JSON",
    "Traceback",
)


def flaky_simulator(seed: int) -> tuple[MockModel, object]:
    """Mock replies, except that the simulated tools answer garbage 60% of the time."""
    mock, rng = MockModel("fault-run"), random.Random(seed)

    def reply(request: ModelRequest) -> ModelResponse:
        if request.response_schema_name == "tool_reply" and rng.random() < 0.6:
            return ModelResponse.model_validate({"message": {"role": "assistant", "content": "no JSON here"}})
        return mock.reply(request)

    return mock, reply


@pytest.fixture
async def faulty_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, RunSummary]:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    _, handler = flaky_simulator(seed=5)
    plan = FaultPlan(rates={"malformed_json": 0.05, "bad_tool_args": 0.1, "server_error": 0.05}, seed=3, retry_after=0)
    dataset = tmp_path / "dataset.jsonl"
    async with FakeModelServer(handler, faults=plan, api_key=KEY) as server:  # type: ignore[arg-type]
        summary = await run_config(
            EXAMPLE,
            out_dir=tmp_path / "run",
            model_override=f"openai:fake@{server.openai_base_url}",
            overrides=[f"output_path={dataset}", "inference_config.remote_params.max_retries=1"],
            num_samples=20,
            no_cache=True,
            status_interval_s=60,
        )
    return tmp_path / "run", dataset, summary


def assert_no_envsim_errors(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    found = [phrase for phrase in ENVSIM_ERROR_STRINGS if phrase in text]
    assert found == [], f"{path.name} holds envsim error strings: {found}"


async def test_faulty_run_writes_only_clean_training_data(faulty_run: tuple[Path, Path, RunSummary]) -> None:
    run_path, dataset, summary = faulty_run
    with RunDirectory.open(run_path, manifest=None) as run:
        traces = list(run.traces())
    infected = [t.episode_id for t in traces if infrastructure_errors(t)]
    # The run really hit infrastructure errors and recorded them as such (not as tool results).
    assert infected, "the fault plan should have produced some infrastructure errors"
    assert summary.infrastructure_error_episodes == infected
    assert summary.dataset_written == len(traces) - len(infected)
    raw_traces = (run_path / "traces.jsonl").read_text()
    assert "gave no valid reply" in raw_traces and '"error_kind":"infrastructure"' in raw_traces

    assert_no_envsim_errors(dataset)
    for fmt in EXPORT_FORMATS:
        out = run_path.parent / f"{fmt}.jsonl"
        report = export_run(run_path, out, fmt)
        assert report.skipped.get("infrastructure_error") == len(infected), fmt
        assert report.written > 0, fmt
        assert_no_envsim_errors(out)
        written_ids = {json.loads(line).get("id") or json.loads(line).get("conversation_id") for line in out.open()}
        assert not written_ids & set(infected), fmt

    # The run summary table and `envsim status` count and name them too.
    console = Console(width=250, record=True)
    console.print(summary_table(summary))
    assert f"infrastructure errors │ {len(infected)} episodes left out: {infected[0]}" in console.export_text()

    result = CliRunner().invoke(app, ["status", str(run_path)], terminal_width=250)
    assert result.exit_code == 0, result.output
    assert f"{len(summary.infrastructure_error_episodes)} episodes, not in any dataset or export" in result.output
    assert summary.infrastructure_error_episodes[0] in result.output

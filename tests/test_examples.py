"""Every config in examples/ validates and runs offline end to end (mock models, no network)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from envsim.api import run_config
from envsim.cli import app
from envsim.recording import RunDirectory
from envsim.recording.verify import verify_trace

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))


def test_there_are_examples() -> None:
    assert len(EXAMPLES) >= 6


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_validates(path: Path) -> None:
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ok")


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
async def test_example_runs_offline(path: Path, tmp_path: Path) -> None:
    out = tmp_path / "dataset.jsonl"
    summary = await run_config(
        path,
        out_dir=tmp_path / "run",
        num_samples=3,
        overrides=[f"output_path={out}"],
        status_interval_s=60,
    )
    assert summary.ok and summary.done == 3 and summary.failed == 0, summary.recent_errors
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 3
    with RunDirectory.open(tmp_path / "run", manifest=None) as run_dir:
        for trace in run_dir.traces():
            assert verify_trace(trace) == []
            if trace.conversation_id:
                assert rows[trace.sample_index][trace.conversation_id]["messages"]

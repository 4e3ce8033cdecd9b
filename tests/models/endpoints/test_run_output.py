"""What a user reads after a run (problem 7): usage that includes replies of cut-short episodes, a summary
that points at the file holding the failures, and an export report that is plain off a terminal."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from envsim.api import RunSummary
from envsim.cli import app
from envsim.models.base import Usage
from envsim.models.usage import UsageTracker
from envsim.recording import RunDirectory, RunManifest, RunState
from envsim.recording.trace import EpisodeStatus, TerminationReason, Trace
from envsim.simulation.progress import summary_table
from envsim.simulation.runner import Runner


class _Spec:
    def __init__(self, episode_id: str) -> None:
        self.episode_id = episode_id


def _trace(episode_id: str, failed: bool = False) -> Trace:
    return Trace(
        episode_id=episode_id,
        seed=1,
        termination=TerminationReason.MODEL_ERROR if failed else TerminationReason.MAX_TURNS,
        status=EpisodeStatus.FAILED if failed else EpisodeStatus.SUCCESS,
        error="the user model failed: boom" if failed else None,
    )


def _run_dir(path: Path) -> RunDirectory:
    manifest = RunManifest.create({"num_samples": 2}, seed=1, models={"assistant": "mock:x"}, command_line=[])
    return RunDirectory.open(path, manifest=manifest)


async def test_usage_after_a_cancel_includes_replies_of_episodes_in_flight(tmp_path: Path) -> None:
    tracker = UsageTracker()

    async def simulate(spec: _Spec) -> Trace:
        tracker.record(Usage(requests=1, input_tokens=10, output_tokens=5), role="user", episode_id=spec.episode_id)
        if spec.episode_id == "ep-1":
            await asyncio.sleep(3600)  # still in flight when the run is cancelled
        return _trace(spec.episode_id)

    with _run_dir(tmp_path / "run") as run:
        runner = Runner([_Spec("ep-0"), _Spec("ep-1")], simulate, run, num_workers=2, usage=tracker)
        task = asyncio.create_task(runner.run())
        while runner.progress.done < 1:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert runner.progress.usage.requests == 2  # ep-1's reply came back and was paid for
    assert runner.progress.usage_by_role["user"].output_tokens == 10


def test_a_failed_run_summary_points_at_the_failures_file(tmp_path: Path) -> None:
    summary = RunSummary(
        run_dir=tmp_path, state=RunState.DONE, total=2, done=0, failed=2, skipped=0, elapsed_s=1.0, usage=Usage()
    )
    out = io.StringIO()
    Console(file=out, width=200).print(summary_table(summary))
    text = out.getvalue()
    assert str(tmp_path / "failures.jsonl") in text
    assert "traces.jsonl" not in text  # empty when every episode failed


def test_export_report_is_plain_and_unwrapped_off_a_terminal(tmp_path: Path) -> None:
    run_path = tmp_path / ("a-run-directory-with-a-rather-long-name-" * 3)
    with _run_dir(run_path) as run:
        run.append_trace(_trace("ep-0"))
        run.append_trace(_trace("ep-1", failed=True))
        run.finalize(RunState.DONE)
    out = tmp_path / "train.jsonl"
    result = CliRunner().invoke(app, ["export", str(run_path), "--format", "openai", "--out", str(out)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"export openai -> {out}"  # one line, however long
    assert "written: 0" in lines and "left out: failed: 1" in lines
    assert "─" not in result.output and "┃" not in result.output  # no table drawing

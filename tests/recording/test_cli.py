"""`envsim status / show / export`, including their error paths."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from envsim.cli import app
from envsim.recording import RunDirectory, RunManifest, RunState

from .factories import make_trace

runner = CliRunner()


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    path = tmp_path / "run"
    manifest = RunManifest.create({"num_samples": 4}, seed=3, models={"assistant": "scripted:demo"}, command_line=[])
    with RunDirectory.open(path, manifest=manifest) as run:
        run.set_status(RunState.RUNNING, total=4)
        run.append_trace(make_trace("ep-1"))
        run.append_trace(make_trace("ep-2", sample_index=1, tool_error="unrecovered"))
        run.append_trace(make_trace("ep-3", sample_index=2, failed=True))
        run.finalize(RunState.DONE, detail=["3 of 4 episodes"])
    return path


def test_status_shows_state_counts_and_reasons(run_dir: Path) -> None:
    result = runner.invoke(app, ["status", str(run_dir)])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "DONE" in out and "2 done, 1 failed, 0 in flight, 4 total" in out
    assert "planned_turns" in out and "model_error" in out
    assert "assistant=scripted:demo" in out and "3 of 4 episodes" in out


def test_status_flags_a_running_run_whose_process_died(run_dir: Path) -> None:
    status_file = run_dir / "status.json"
    status = json.loads(status_file.read_text())
    status.update(state="RUNNING", pid=2**22 + 12345)  # above pid_max: no such process
    status_file.write_text(json.dumps(status))
    result = runner.invoke(app, ["status", str(run_dir)], terminal_width=200)
    assert "stale" in result.output


def test_show_lists_episodes(run_dir: Path) -> None:
    result = runner.invoke(app, ["show", str(run_dir)], terminal_width=200)
    assert result.exit_code == 0, result.output
    for expected in ("ep-1", "ep-2", "ep-3", "model_error", "failed"):
        assert expected in result.output


def test_show_episode_prints_plan_messages_calls_and_patches(run_dir: Path) -> None:
    result = runner.invoke(app, ["show", str(run_dir), "ep-1"], terminal_width=200)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "1. ask" in out and "Where is my order A1?" in out
    assert 'get_order({"order_id": "A1"})' in out
    assert '"op": "replace", "path": "/orders/A1/status"' in out
    assert "recording invariant broken" not in out


def test_show_unknown_episode_names_what_exists(run_dir: Path) -> None:
    result = runner.invoke(app, ["show", str(run_dir), "nope"])
    assert result.exit_code == 1
    assert "no episode 'nope'" in result.stderr and "ep-1, ep-2, ep-3" in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize("command", ["status", "show"])
def test_missing_and_corrupt_run_dirs_are_clear_errors(tmp_path: Path, command: str) -> None:
    result = runner.invoke(app, [command, str(tmp_path / "missing")])
    assert result.exit_code == 1 and "no run directory" in result.stderr
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "manifest.json").write_text("{not json")
    result = runner.invoke(app, [command, str(tmp_path / "bad")])
    assert result.exit_code == 1 and "manifest.json is corrupt" in result.stderr


def test_corrupt_traces_file_is_a_clear_error(run_dir: Path) -> None:
    with (run_dir / "traces.jsonl").open("a") as fh:
        fh.write("garbage\n")
    result = runner.invoke(app, ["show", str(run_dir)])
    assert result.exit_code == 1 and "traces.jsonl:3: corrupt JSON line" in result.stderr


def test_export_reports_written_and_skipped(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "train.jsonl"
    result = runner.invoke(app, ["export", str(run_dir), "--format", "openai", "--out", str(out)], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "written" in result.output and "left out: failed" in result.output
    assert "left out: unrecovered_tool_error" in result.output
    assert len(out.read_text().splitlines()) == 1

    args = ["export", str(run_dir), "-f", "sharegpt", "-o", str(out), "--include-failed", "--include-tool-errors"]
    result = runner.invoke(app, args, terminal_width=200)
    assert result.exit_code == 0, result.output
    # sharegpt drops failed calls by default: the unrecovered one cannot be removed coherently
    assert len(out.read_text().splitlines()) == 2
    assert "left out: error_turn_not_droppable" in result.output

    result = runner.invoke(app, [*args, "--error-turns", "keep"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert len(out.read_text().splitlines()) == 3
    assert "explicit tool errors" in result.output


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--format", "csv"], "unknown export format 'csv'"),
        (["--format", "hf", "--arguments", "dict"], "--arguments must be one of object, string"),
        (["--format", "hf", "--error-turns", "weight0"], "--error-turns weight0 needs per-message weights"),
        (["--format", "openai", "--reasoning", "keep"], "the openai format has no field for the model's reasoning"),
    ],
)
def test_export_bad_options(run_dir: Path, tmp_path: Path, extra: list[str], message: str) -> None:
    result = runner.invoke(app, ["export", str(run_dir), "--out", str(tmp_path / "x.jsonl"), *extra])
    assert result.exit_code == 1
    assert message in result.stderr


def test_export_into_a_directory_is_a_clear_error(run_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "adir"
    target.mkdir()
    result = runner.invoke(app, ["export", str(run_dir), "-f", "openai", "-o", str(target)])
    assert result.exit_code == 1 and "cannot write" in result.stderr

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from typer.testing import CliRunner

from envsim.cli import app
from envsim.recording import RunDirectory, RunState

runner = CliRunner()


def test_run_prints_a_summary_and_exits_0(write_config: Callable[..., Path], tmp_path: Path) -> None:
    config = write_config(num_samples=3)
    result = runner.invoke(app, ["run", str(config), "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert "succeeded" in result.stdout and "3/3" in result.stdout
    assert RunDirectory.open(tmp_path / "run", manifest=None).status().state is RunState.DONE


def test_default_out_dir_is_runs_slash_config_name(
    write_config: Callable[..., Path], tmp_path: Path, monkeypatch: object
) -> None:
    config = write_config(num_samples=1)
    os.chdir(tmp_path)
    try:
        result = runner.invoke(app, ["run", str(config)])
    finally:
        os.chdir(Path(__file__).parent)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "runs/travel/traces.jsonl").exists()


def test_set_and_seed_style_overrides(write_config: Callable[..., Path], tmp_path: Path) -> None:
    config = write_config(num_samples=5)
    result = runner.invoke(
        app,
        [
            "run", str(config), "--out", str(tmp_path / "run"), "--num-samples", "2",
            "--set", "strategy_params.multiturn_attributes[0].max_turns=1",
            "--inference_config.remote_params.num_workers", "1",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "run/manifest.json").read_text())
    assert manifest["config"]["num_samples"] == 2
    assert manifest["config"]["inference_config"]["remote_params"]["num_workers"] == 1
    assert manifest["config"]["strategy_params"]["multiturn_attributes"][0]["max_turns"] == 1


def test_config_errors_exit_1_with_a_message(write_config: Callable[..., Path], tmp_path: Path) -> None:
    config = write_config()
    missing = runner.invoke(app, ["run", str(tmp_path / "nope.yaml")])
    assert missing.exit_code == 1 and "nope.yaml" in missing.output
    bad_override = runner.invoke(app, ["run", str(config), "--inference_config.generation.temprature", "0.5"])
    assert bad_override.exit_code == 1 and "temprature" in bad_override.output
    dangling = runner.invoke(app, ["run", str(config), "--inference_config.generation.temperature"])
    assert dangling.exit_code == 1 and "has no value" in dangling.output
    assert "Traceback" not in missing.output + bad_override.output + dangling.output


def test_a_run_with_no_successful_episode_exits_1(write_config: Callable[..., Path], tmp_path: Path) -> None:
    config = write_config(model="function:replies.py:always_fails", num_samples=2)
    result = runner.invoke(app, ["run", str(config), "--out", str(tmp_path / "run")])
    assert result.exit_code == 1 and "no successful episode" in result.output


def test_piped_output_is_plain_lines_that_never_wrap(write_config: Callable[..., Path], tmp_path: Path) -> None:
    # CliRunner's stdout is not a terminal, like a pipe or a CI log.
    config = write_config(model="function:replies.py:always_fails", num_samples=2)
    result = runner.invoke(app, ["run", str(config), "--out", str(tmp_path / "run")])
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert not any(ch in result.stdout for ch in "┌│└━─"), "no boxes"
    failures = [line for line in lines if line.startswith("recent failure: ")]
    assert failures and all("ep-" in line for line in failures)
    assert f"failures: {tmp_path / 'run' / 'failures.jsonl'}" in lines, "a long path stays on one line"
    assert "no successful episode" in result.output.replace("\n", " ")


def test_an_auth_error_exits_1_and_says_why(write_config: Callable[..., Path], tmp_path: Path) -> None:
    config = write_config(model="function:replies.py:auth_fails")
    result = runner.invoke(app, ["run", str(config), "--out", str(tmp_path / "run")])
    assert result.exit_code == 1 and "refused" in result.output and "Traceback" not in result.output


def test_a_changed_config_exits_1_and_mentions_force(write_config: Callable[..., Path], tmp_path: Path) -> None:
    config = write_config(num_samples=1)
    assert runner.invoke(app, ["run", str(config), "--out", str(tmp_path / "run")]).exit_code == 0
    result = runner.invoke(app, ["run", str(config), "--out", str(tmp_path / "run"), "--seed", "8"])
    assert result.exit_code == 1 and "--force" in result.output


def _recorded_ids(run_dir: Path) -> list[str]:
    ids = []
    for name in ("traces.jsonl", "failures.jsonl"):
        path = run_dir / name
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                with contextlib.suppress(json.JSONDecodeError):  # a torn last line from the kill
                    ids.append(json.loads(line)["episode_id"])
    return ids


def _start_run(config: Path, out: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "envsim", "run", str(config), "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def test_kill_9_mid_run_then_resume_loses_and_duplicates_nothing(
    write_config: Callable[..., Path], tmp_path: Path
) -> None:
    config = write_config(model="function:replies.py:slow", num_samples=40)
    out = tmp_path / "run"
    process = _start_run(config, out)
    deadline = time.monotonic() + 60
    while len(_recorded_ids(out)) < 5:
        assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
        assert time.monotonic() < deadline, "the run recorded nothing within 60 s"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    before_kill = set(_recorded_ids(out))
    assert 5 <= len(before_kill) < 40

    resumed = _start_run(config, out)
    _, stderr = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, stderr.decode()
    ids = _recorded_ids(out)
    assert len(ids) == len(set(ids)) == 40
    assert before_kill <= set(ids)
    assert sorted(ids) == [f"ep-{i:06d}" for i in range(40)]
    assert RunDirectory.open(out, manifest=None).status().state is RunState.DONE

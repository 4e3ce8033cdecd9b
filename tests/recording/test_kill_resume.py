"""A writer killed with SIGKILL mid-run: resume keeps every finished episode once and redoes the rest."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from envsim.recording import RunDirectory, RunManifest, RunState
from envsim.recording.run_dir import TRACES_FILE

from .factories import make_trace

TOTAL = 200

WRITER = """
import sys
from envsim.recording import RunDirectory, RunManifest
from tests.recording.factories import make_trace

manifest = RunManifest.create({"n": %(total)d}, seed=1, command_line=[])
with RunDirectory.open(sys.argv[1], manifest=manifest) as run:
    done = run.finished_episode_ids()
    for i in range(%(total)d):
        if f"ep-{i:04d}" not in done:
            trace = make_trace(f"ep-{i:04d}", sample_index=i)
            trace.attributes["padding"] = "x" * 200_000  # big lines: a kill can land mid-write
            run.append_trace(trace)
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_kill_then_resume_loses_nothing_and_duplicates_nothing(tmp_path: Path) -> None:
    run_path = tmp_path / "run"
    script = tmp_path / "writer.py"
    script.write_text(WRITER % {"total": TOTAL})
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    proc = subprocess.Popen([sys.executable, str(script), str(run_path)], env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        traces = run_path / TRACES_FILE
        if traces.exists() and traces.stat().st_size > 20 * 200_000:
            break
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    survivors = RunDirectory.open(run_path, manifest=None).finished_episode_ids()
    assert 0 < len(survivors) < TOTAL, "the kill should land mid-run"

    # Resume in-process and finish the rest, the way the runner does.
    manifest = RunManifest.create({"n": TOTAL}, seed=1, command_line=[])
    with RunDirectory.open(run_path, manifest=manifest) as run:
        assert run.finished_episode_ids() == survivors
        for i in range(TOTAL):
            if f"ep-{i:04d}" not in survivors:
                run.append_trace(make_trace(f"ep-{i:04d}", sample_index=i))
        run.finalize(RunState.DONE)

    lines = (run_path / TRACES_FILE).read_bytes().split(b"\n")
    assert lines[-1] == b""  # ends with a newline: no torn tail
    ids = [json.loads(line)["episode_id"] for line in lines[:-1]]
    assert ids == [f"ep-{i:04d}" for i in range(TOTAL)]

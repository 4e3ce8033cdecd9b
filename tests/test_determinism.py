"""Same config + seed + response cache = the same bytes out, across separate processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(out: Path, output_path: Path, hash_seed: str) -> None:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    command = [sys.executable, "-m", "envsim", "run", str(ROOT / "examples/support_chat.yaml"), "--out", str(out)]
    result = subprocess.run(
        [*command, "--num-samples", "4", "--set", f"output_path={output_path}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr + result.stdout


def test_two_processes_write_identical_traces_and_datasets(tmp_path: Path) -> None:
    _run(tmp_path / "a", tmp_path / "a.jsonl", "1")
    _run(tmp_path / "b", tmp_path / "b.jsonl", "2")  # same parent: shares the response cache
    assert (tmp_path / "a/traces.jsonl").read_bytes() == (tmp_path / "b/traces.jsonl").read_bytes()
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    assert (tmp_path / "a/traces.jsonl").read_bytes().count(b"\n") == 4

"""The shipped examples end to end against a real OpenAI-compatible server (issue 12): every conversation
recorded (succeeded, or failed with its reason), at least one conversation with a real tool call and its
result succeeds, and the export works. Run with `python -m pytest -m real_server tests/models/real_server`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from envsim.recording import RunDirectory
from envsim.recording.trace import EpisodeStatus, Trace

pytestmark = pytest.mark.real_server

ROOT = Path(__file__).resolve().parents[3]
RUN_TIMEOUT_S = 3600  # a 135M model on 2 shared cores: minutes per conversation
# Small runs: a conversation of 2 turns, replies of at most 256 tokens, two episodes at a time.
SHORT = [
    "--set",
    "inference_config.generation.max_new_tokens=256",
    "--set",
    "inference_config.remote_params.num_workers=2",
]


def envsim(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "envsim", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )


def run_example(name: str, server: Any, out: Path, samples: int, *extra: str) -> list[Trace]:
    result = envsim(
        "run", f"examples/{name}", "--out", str(out), "--model", server.model_string,
        "--num-samples", str(samples), "--no-cache", *SHORT, *extra,
    )  # fmt: skip
    # Exit 1 is "no episode succeeded"; anything else (a stopped run, a crash) is a failure here.
    assert result.returncode in (0, 1), result.stdout[-3000:] + result.stderr[-3000:]
    with RunDirectory.open(out, manifest=None) as run:
        traces = list(run.traces(include_failed=True))
    assert len(traces) == samples, "every episode is recorded, succeeded or failed"
    for trace in traces:
        assert trace.status is EpisodeStatus.SUCCESS or trace.error, f"{trace.episode_id} failed without a reason"
    return traces


def assert_exports(out: Path) -> None:
    for fmt in ("openai", "hf", "sharegpt"):
        result = envsim("export", str(out), "--format", fmt, "--out", str(out / f"export.{fmt}.jsonl"))
        assert result.returncode == 0, result.stdout + result.stderr
        assert "written:" in result.stdout  # plain lines: stdout is not a terminal


def succeeded_with_a_tool_result(traces: list[Trace]) -> list[Trace]:
    return [t for t in traces if t.status is EpisodeStatus.SUCCESS and any(step.error is None for step in t.steps)]


@pytest.mark.parametrize("example", ["support_chat.yaml", "retail_live.yaml"])
def test_a_conversation_example_runs_end_to_end(example: str, real_server: Any, tmp_path: Path) -> None:
    out = tmp_path / "run"
    turns = "strategy_params.multiturn_attributes[0].max_turns=2"
    traces = run_example(example, real_server, out, 2, "--set", turns)
    good = succeeded_with_a_tool_result(traces)
    reasons = "; ".join(f"{t.episode_id}: {t.termination}: {(t.error or '')[:300]}" for t in traces)
    assert good, f"no conversation with a successful tool call succeeded: {reasons}"
    assert_exports(out)


def test_the_attributes_example_runs_end_to_end(real_server: Any, tmp_path: Path) -> None:
    out = tmp_path / "run"
    traces = run_example("attributes.yaml", real_server, out, 3)
    assert any(t.status is EpisodeStatus.SUCCESS for t in traces)
    assert_exports(out)

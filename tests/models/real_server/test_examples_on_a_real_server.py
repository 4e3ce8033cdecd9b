"""The shipped examples end to end against a real OpenAI-compatible server (issue 12): every conversation
recorded (succeeded, or failed with its reason); a retail conversation with real tool calls and tool
results succeeds; every step of the support backend (LLM-simulated, stateful) either recorded a patch the
model made, or an empty change, or the reason it failed; and the exports work.
Run with `python -m pytest -m real_server tests/models/real_server`."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonpatch
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
    dataset = f"output_path={out.parent / 'dataset.jsonl'}"  # not the example's out/..., shared by every run
    result = envsim(
        "run", f"examples/{name}", "--out", str(out), "--model", server.model_string,
        "--num-samples", str(samples), "--no-cache", "--set", dataset, *SHORT, *extra,
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


TWO_TURNS = ("--set", "strategy_params.multiturn_attributes[0].max_turns=2")


def failure_reasons(traces: list[Trace]) -> str:
    return "; ".join(f"{t.episode_id}: {t.termination}: {(t.error or '')[:300]}" for t in traces)


def test_the_retail_example_runs_real_tool_calls_end_to_end(real_server: Any, tmp_path: Path) -> None:
    out = tmp_path / "run"
    traces = run_example("retail_live.yaml", real_server, out, 2, *TWO_TURNS)
    good = succeeded_with_a_tool_result(traces)
    assert good, f"no conversation with a successful tool call succeeded: {failure_reasons(traces)}"
    for trace in good:
        calls = {c.id for m in trace.messages for c in m.tool_calls or []}
        results = {m.tool_call_id for m in trace.messages if m.role == "tool"}
        assert calls and calls <= results, "every tool call the model made has its tool result in the trace"
    assert_exports(out)


def test_the_support_example_records_the_models_patches_or_why_not(real_server: Any, tmp_path: Path) -> None:
    out = tmp_path / "run"
    traces = run_example("support_chat.yaml", real_server, out, 2, *TWO_TURNS)
    for trace in traces:
        state = copy.deepcopy(trace.initial_state.get("support_backend"))
        for step in trace.steps:
            if step.environment != "support_backend":
                continue
            # The model's change is a patch that was applied; a rejected or failed simulation says why.
            assert step.error is None or step.error.strip(), step
            assert not (step.error and step.patch), "a failed step changes nothing"
            state = jsonpatch.apply_patch(state, step.patch) if step.patch else state
        assert state == trace.final_state.get("support_backend"), "initial state + the model's patches = final"
        if trace.status is EpisodeStatus.FAILED:
            assert trace.error and trace.termination, trace.episode_id
        patches = sum(1 for step in trace.steps if step.patch)
        print(f"{trace.episode_id}: {trace.status.value}, {len(trace.steps)} steps, {patches} with a patch")
    assert_exports(out)


def test_the_attributes_example_runs_end_to_end(real_server: Any, tmp_path: Path) -> None:
    out = tmp_path / "run"
    traces = run_example("attributes.yaml", real_server, out, 3)
    assert any(t.status is EpisodeStatus.SUCCESS for t in traces)
    assert_exports(out)

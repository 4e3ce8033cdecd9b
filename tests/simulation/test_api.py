from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from envsim.api import run_config
from envsim.errors import CircuitOpenError, ConfigError, ConfigErrors, ModelAuthError, RunError
from envsim.recording import RunDirectory, RunState, verify_trace


async def test_a_config_runs_end_to_end(write_config: Callable[..., Path], tmp_path: Path) -> None:
    config = write_config(num_samples=6)
    summary = await run_config(config, out_dir=tmp_path / "run")
    assert summary.ok and summary.state is RunState.DONE
    assert (summary.done, summary.failed, summary.total) == (6, 0, 6)
    run = RunDirectory.open(tmp_path / "run", manifest=None)
    traces = list(run.traces())
    assert [t.episode_id for t in traces] == [f"ep-00000{i}" for i in range(6)]
    for trace in traces:
        assert verify_trace(trace) == []
        assert trace.messages[0].content == "You are a travel assistant."
        assert trace.attributes["mood"] in ("calm", "angry")
        assert trace.usage["assistant"].requests > 0 and trace.usage["planner"].requests > 0
    rows = [json.loads(line) for line in (config.parent / "out/data.jsonl").read_text().splitlines()]
    assert len(rows) == 6 and set(rows[0]) >= {"mood", "chat", "chat_plan"}
    assert rows[0]["chat"]["tools"][0]["function"]["name"] == "get_weather"
    assert summary.output_path == config.parent / "out/data.jsonl" and summary.dataset_written == 6


async def test_same_config_and_seed_give_identical_bytes(write_config: Callable[..., Path], tmp_path: Path) -> None:
    config = write_config(num_samples=8)
    await run_config(config, out_dir=tmp_path / "a", no_cache=True)
    await run_config(config, out_dir=tmp_path / "b", no_cache=True)
    assert (tmp_path / "a/traces.jsonl").read_bytes() == (tmp_path / "b/traces.jsonl").read_bytes()
    other_seed = await run_config(config, out_dir=tmp_path / "c", seed=99, no_cache=True)
    assert other_seed.ok
    assert (tmp_path / "a/traces.jsonl").read_bytes() != (tmp_path / "c/traces.jsonl").read_bytes()


async def test_rerunning_a_finished_run_repeats_nothing(write_config: Callable[..., Path], tmp_path: Path) -> None:
    config = write_config(num_samples=4)
    await run_config(config, out_dir=tmp_path / "run")
    before = (tmp_path / "run/traces.jsonl").read_bytes()
    summary = await run_config(config, out_dir=tmp_path / "run")
    assert summary.skipped == 4 and summary.done == 4
    assert (tmp_path / "run/traces.jsonl").read_bytes() == before


async def test_a_changed_config_is_refused_unless_forced(write_config: Callable[..., Path], tmp_path: Path) -> None:
    config = write_config(num_samples=2)
    await run_config(config, out_dir=tmp_path / "run")
    change = ["strategy_params.multiturn_attributes[0].max_turns=3"]
    with pytest.raises(RunError, match="different config"):
        await run_config(config, out_dir=tmp_path / "run", overrides=change)
    assert (await run_config(config, out_dir=tmp_path / "run", overrides=change, force=True)).ok


async def test_an_auth_error_stops_the_run(write_config: Callable[..., Path], tmp_path: Path) -> None:
    config = write_config(model="function:replies.py:auth_fails")
    with pytest.raises((ModelAuthError, CircuitOpenError)):  # the breaker reports auth failures as open
        await run_config(config, out_dir=tmp_path / "run")
    status = RunDirectory.open(tmp_path / "run", manifest=None).status()
    assert status.state is RunState.ERROR and "refused" in " ".join(status.detailed_status)


async def test_failing_episodes_are_recorded_and_the_run_is_not_ok(
    write_config: Callable[..., Path], tmp_path: Path
) -> None:
    config = write_config(model="function:replies.py:always_fails", num_samples=3)
    summary = await run_config(config, out_dir=tmp_path / "run")
    assert summary.state is RunState.DONE and not summary.ok
    assert (summary.done, summary.failed) == (0, 3)
    failures = list(RunDirectory.open(tmp_path / "run", manifest=None).traces(include_failed=True))
    assert all(t.termination == "model_error" and "rejected the request" in (t.error or "") for t in failures)


async def test_config_errors_are_reported_before_anything_runs(
    write_config: Callable[..., Path], tmp_path: Path
) -> None:
    config = write_config()
    with pytest.raises((ConfigError, ConfigErrors)):
        await run_config(config, out_dir=tmp_path / "run", overrides=["strategy_params.nope=1"])
    with pytest.raises((ConfigError, ConfigErrors), match="min_turns"):
        await run_config(
            config, out_dir=tmp_path / "run", overrides=["strategy_params.multiturn_attributes[0].min_turns=5"]
        )
    assert not (tmp_path / "run").exists()

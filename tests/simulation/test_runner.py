from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from envsim.errors import ModelAuthError
from envsim.recording import RunDirectory, RunManifest, RunState
from envsim.recording.trace import EpisodeStatus, TerminationReason, Trace
from envsim.simulation.episode import EpisodeSpec, episode_id_for
from envsim.simulation.runner import Runner, RunProgress


def specs(n: int, start: int = 0) -> list[EpisodeSpec]:
    return [EpisodeSpec(episode_id=episode_id_for(i), seed=i, sample_index=i) for i in range(start, n)]


def trace_for(spec: EpisodeSpec, failed: bool = False) -> Trace:
    return Trace(
        episode_id=spec.episode_id,
        sample_index=spec.sample_index,
        seed=spec.seed,
        termination=TerminationReason.MODEL_ERROR if failed else TerminationReason.PLANNED_TURNS,
        status=EpisodeStatus.FAILED if failed else EpisodeStatus.SUCCESS,
        error="boom" if failed else None,
    )


def open_run(path: Path) -> RunDirectory:
    return RunDirectory.open(path, manifest=RunManifest.create({"k": 1}, seed=0))


async def test_num_workers_bounds_open_episodes_and_everything_is_recorded(tmp_path: Path) -> None:
    open_now = peak = 0

    async def simulate(spec: EpisodeSpec) -> Trace:
        nonlocal open_now, peak
        open_now += 1
        peak = max(peak, open_now)
        await asyncio.sleep(0.01)
        open_now -= 1
        return trace_for(spec, failed=spec.sample_index % 5 == 0)

    with open_run(tmp_path / "run") as run:
        progress = await Runner(specs(20), simulate, run, num_workers=3, total=20).run()
        assert peak == 3
        assert (progress.done, progress.failed) == (16, 4)
        assert run.status().state is RunState.DONE
        assert [t.episode_id for t in run.traces(include_failed=True)] == [episode_id_for(i) for i in range(20)]


async def test_a_slow_episode_does_not_hold_back_the_others(tmp_path: Path) -> None:
    # The slow episode waits until the other 29 are done (or 30 s): a runner that held the others back
    # behind it would make it time out and finish before some of them.
    order: list[int] = []
    others_done = asyncio.Event()

    async def simulate(spec: EpisodeSpec) -> Trace:
        if spec.sample_index == 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(others_done.wait(), timeout=30)
        else:
            await asyncio.sleep(0.01)
        order.append(spec.sample_index)
        if len(order) == 29 and 0 not in order:
            others_done.set()
        return trace_for(spec)

    with open_run(tmp_path / "run") as run:
        await Runner(specs(30), simulate, run, num_workers=2).run()
    assert order[-1] == 0 and sorted(order) == list(range(30))


async def test_specs_are_consumed_lazily(tmp_path: Path) -> None:
    produced = 0

    def lazy() -> Iterator[EpisodeSpec]:
        nonlocal produced
        for spec in specs(1000):
            produced += 1
            yield spec

    seen_at_first_finish: list[int] = []

    async def simulate(spec: EpisodeSpec) -> Trace:
        await asyncio.sleep(0)
        if not seen_at_first_finish:
            seen_at_first_finish.append(produced)
        return trace_for(spec)

    with open_run(tmp_path / "run") as run:
        await Runner(lazy(), simulate, run, num_workers=4).run()
    assert seen_at_first_finish[0] <= 4 and produced == 1000


async def test_resume_skips_finished_episodes(tmp_path: Path) -> None:
    calls: list[str] = []

    async def simulate(spec: EpisodeSpec) -> Trace:
        calls.append(spec.episode_id)
        return trace_for(spec)

    with open_run(tmp_path / "run") as run:
        await Runner(specs(4), simulate, run, num_workers=2).run()
    calls.clear()
    with open_run(tmp_path / "run") as run:
        progress = await Runner(specs(10), simulate, run, num_workers=2, total=10).run()
        assert sorted(calls) == [episode_id_for(i) for i in range(4, 10)]
        assert progress.skipped == 4
        ids = run.episode_ids()
        assert ids == [episode_id_for(i) for i in range(10)] and len(set(ids)) == 10


async def test_cancellation_marks_the_run_cancelled_and_keeps_finished_episodes(tmp_path: Path) -> None:
    async def simulate(spec: EpisodeSpec) -> Trace:
        await asyncio.sleep(0.01 if spec.sample_index < 3 else 30)
        return trace_for(spec)

    with open_run(tmp_path / "run") as run:
        task = asyncio.create_task(Runner(specs(10), simulate, run, num_workers=4).run())
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        status = run.status()
        assert status.state is RunState.CANCELLED and status.done == 3 and status.in_flight == 0
    with open_run(tmp_path / "run") as run:
        assert run.finished_episode_ids() == {episode_id_for(i) for i in range(3)}


async def test_a_run_stopping_error_marks_the_run_error_and_propagates(tmp_path: Path) -> None:
    async def simulate(spec: EpisodeSpec) -> Trace:
        await asyncio.sleep(0.01 * spec.sample_index)
        if spec.sample_index == 5:
            raise ModelAuthError("OPENAI_API_KEY was refused")
        if spec.sample_index > 5:
            await asyncio.sleep(30)
        return trace_for(spec)

    with open_run(tmp_path / "run") as run:
        with pytest.raises(ModelAuthError):
            await Runner(specs(20), simulate, run, num_workers=4).run()
        status = run.status()
        assert status.state is RunState.ERROR and "refused" in status.detailed_status[0]
        assert run.finished_episode_ids() == {episode_id_for(i) for i in range(5)}


async def test_post_process_and_progress_callbacks(tmp_path: Path) -> None:
    snapshots: list[int] = []

    async def simulate(spec: EpisodeSpec) -> Trace:
        return trace_for(spec)

    async def evaluate(trace: Trace) -> Trace:
        return trace.model_copy(update={"checks": []})

    def on_progress(progress: RunProgress) -> None:
        snapshots.append(progress.finished)

    with open_run(tmp_path / "run") as run:
        await Runner(specs(5), simulate, run, num_workers=2, post_process=evaluate, on_progress=on_progress).run()
        assert all(t.checks == [] for t in run.traces())
    assert snapshots[:5] == [1, 2, 3, 4, 5]

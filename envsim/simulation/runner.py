"""The runner: many independent episodes, at most `num_workers` open at once, recorded as they finish.

Generic over what an episode is: give it an iterable of specs (anything with an `episode_id`) and an
async `simulate(spec) -> Trace` function (the live episode loop, a script replayer, ...), and a sink
(a `RunDirectory`). Scheduling is a fixed pool of workers pulling the next spec from a shared iterator,
so specs are produced lazily (10,000 episodes never means 10,000 coroutines) and nothing is kept once a
trace is on disk: memory stays flat as the run grows. Episodes never wait for each other (no lock-step
turns): a slow episode only occupies its own worker.

Stopping:
- Run-stopping errors (`CircuitOpenError`, `ModelAuthError`, `RequestRefusedError`) or a bug raised by
  `simulate` cancel the
  in-flight episodes, mark the run ERROR and re-raise.
- Cancellation (Ctrl-C) cancels the in-flight episodes, marks the run CANCELLED and re-raises.
Either way every finished episode is already on disk, and a resumed run skips it.

Usage: given the model layer's tracker (`usage=`), the progress shows every reply that came back, also
those of episodes still in flight or cancelled; otherwise the sum of the recorded traces.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from envsim.models.base import Usage
from envsim.recording.status import RunState
from envsim.recording.trace import EpisodeStatus, Trace
from envsim.simulation.model_calls import describe_error


class HasEpisodeId(Protocol):
    @property
    def episode_id(self) -> str: ...


SpecT = TypeVar("SpecT", bound=HasEpisodeId)


class TraceSink(Protocol):
    """Where finished episodes go (a `RunDirectory`)."""

    def finished_episode_ids(self) -> set[str]: ...

    def append_trace(self, trace: Trace) -> None: ...

    def set_status(
        self,
        state: RunState | str,
        *,
        done: int | None = None,
        failed: int | None = None,
        in_flight: int = 0,
        total: int | None = None,
        detail: list[str] | None = None,
    ) -> object: ...

    def finalize(self, state: RunState | str, *, detail: list[str] | None = None) -> object: ...


@dataclass
class RunProgress:
    """A snapshot for progress displays. Counts cover this process; `skipped` were finished before."""

    total: int | None
    skipped: int = 0
    done: int = 0
    failed: int = 0
    in_flight: int = 0
    started: float = field(default_factory=time.perf_counter)
    usage: Usage = field(default_factory=Usage)
    usage_by_role: dict[str, Usage] = field(default_factory=dict)
    last_errors: list[str] = field(default_factory=list)  # a few recent failure reasons
    # Lines a display shows below the counts (e.g. "batch: wave 7, 112 rows in 1 batch in_progress").
    notes: list[str] = field(default_factory=list)

    @property
    def finished(self) -> int:
        return self.done + self.failed

    @property
    def elapsed_s(self) -> float:
        return time.perf_counter() - self.started

    @property
    def episodes_per_min(self) -> float:
        elapsed = self.elapsed_s
        return 60.0 * self.finished / elapsed if elapsed > 0 else 0.0

    def record(self, trace: Trace, *, count_usage: bool = True) -> None:
        if trace.status is EpisodeStatus.FAILED:
            self.failed += 1
            self.last_errors = [*self.last_errors[-4:], f"{trace.episode_id}: {trace.termination}: {trace.error}"]
        else:
            self.done += 1
        if not count_usage:
            return
        for role, usage in trace.usage.items():
            self.usage = self.usage + usage
            self.usage_by_role[role] = self.usage_by_role.get(role, Usage()) + usage


class UsageSource(Protocol):
    """The model layer's run-wide accounting (a `UsageTracker`): every reply that came back, including
    those of episodes still in flight or cut short by a stop."""

    def total(self) -> Usage: ...

    def by_role(self) -> dict[str, Usage]: ...


PostProcess = Callable[[Trace], "Trace | Awaitable[Trace]"]
ProgressCallback = Callable[[RunProgress], None]


class Runner(Generic[SpecT]):
    """Simulates `specs` with `simulate`, writing each trace to `sink` as it finishes.

    `post_process` (e.g. scenario evaluation) may return a changed trace before it is written;
    `on_progress` is called after every finished episode and on every status tick; `total` is the
    number of episodes of the whole run (for displays and status.json) when the caller knows it.
    """

    def __init__(
        self,
        specs: Iterable[SpecT],
        simulate: Callable[[SpecT], Awaitable[Trace]],
        sink: TraceSink,
        *,
        num_workers: int,
        total: int | None = None,
        post_process: PostProcess | None = None,
        on_progress: ProgressCallback | None = None,
        status_interval_s: float = 2.0,
        usage: UsageSource | None = None,
    ) -> None:
        if num_workers < 1:
            raise ValueError("num_workers must be at least 1")
        self.specs = specs
        self.simulate = simulate
        self.sink = sink
        self.num_workers = num_workers
        self.post_process = post_process
        self.on_progress = on_progress
        self.status_interval_s = status_interval_s
        self.progress = RunProgress(total=total)
        self.usage = usage
        self._stop_error: BaseException | None = None

    def _pending(self, finished: set[str]) -> Iterator[SpecT]:
        for spec in self.specs:
            if spec.episode_id in finished:
                self.progress.skipped += 1
                continue
            yield spec

    async def run(self) -> RunProgress:
        """Run to completion; returns the final progress. Raises the run-stopping error, or
        CancelledError when cancelled (status.json says ERROR / CANCELLED)."""
        finished = self.sink.finished_episode_ids()
        pending = self._pending(finished)
        self.sink.set_status(RunState.RUNNING, total=self.progress.total, detail=["running"])
        ticker = asyncio.create_task(self._tick())
        workers = [asyncio.create_task(self._worker(pending)) for _ in range(self.num_workers)]
        try:
            await asyncio.gather(*workers)
        except asyncio.CancelledError:
            await _cancel_all(workers, ticker)
            if self._stop_error is not None:
                # A worker stopped the run; the error is the story, not the cancellation.
                self._finish(RunState.ERROR, f"stopped: {describe_error(self._stop_error)}")
                raise self._stop_error from None
            self._finish(RunState.CANCELLED, "cancelled; resume with the same command")
            raise
        except BaseException as exc:
            await _cancel_all(workers, ticker)
            self._finish(RunState.ERROR, f"stopped: {describe_error(exc)}")
            raise
        await _cancel_all([], ticker)
        self._finish(RunState.DONE, self._summary_line())
        return self.progress

    async def _worker(self, pending: Iterator[SpecT]) -> None:
        # Single-threaded event loop: `next` on the shared generator never races.
        for spec in pending:
            self.progress.in_flight += 1
            try:
                trace = await self.simulate(spec)
                if self.post_process is not None:
                    processed = self.post_process(trace)
                    trace = await processed if inspect.isawaitable(processed) else processed
                self.sink.append_trace(trace)
            except asyncio.CancelledError:
                raise
            except BaseException as exc:
                if self._stop_error is None:
                    self._stop_error = exc
                raise
            finally:
                self.progress.in_flight -= 1
            self.progress.record(trace, count_usage=self.usage is None)
            self._refresh_usage()
            if self.on_progress is not None:
                self.on_progress(self.progress)

    async def _tick(self) -> None:
        """status.json is rewritten on a timer, not per message (cheap even for huge runs)."""
        while True:
            await asyncio.sleep(self.status_interval_s)
            self._refresh_usage()
            self._write_status(RunState.RUNNING, self._summary_line())
            if self.on_progress is not None:
                self.on_progress(self.progress)

    def _summary_line(self) -> str:
        p = self.progress
        line = f"{p.done} done, {p.failed} failed, {p.in_flight} in flight"
        return line + (f", {p.skipped} finished before resume" if p.skipped else "")

    def _write_status(self, state: RunState, line: str) -> None:
        detail = [line, *self.progress.last_errors]
        self.sink.set_status(state, in_flight=self.progress.in_flight, total=self.progress.total, detail=detail)

    def _refresh_usage(self) -> None:
        if self.usage is not None:
            self.progress.usage = self.usage.total()
            self.progress.usage_by_role = self.usage.by_role()

    def _finish(self, state: RunState, line: str) -> None:
        self._refresh_usage()  # after a stop or Ctrl-C too: replies that came back were paid for
        self.progress.in_flight = 0
        self.sink.finalize(state, detail=[line, *self.progress.last_errors])
        if self.on_progress is not None:
            self.on_progress(self.progress)


async def _cancel_all(workers: list[asyncio.Task[None]], ticker: asyncio.Task[None]) -> None:
    tasks = [*workers, ticker]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)

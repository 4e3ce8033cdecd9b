"""Episodes simulated in worker processes, for runs that one event loop cannot drive fast enough.

A `ProcessPool` is a `simulate(spec) -> Trace` function for the parent's `Runner`: it hands each spec to
the worker process with the most free slots and returns the trace the worker sends back (each distinct
base state once, then references and patches: envsim.recording.wire). The parent
stays the only writer of the run directory (the Runner records, counts and finalizes as in a
single-process run); workers only simulate. Each worker builds its own simulator by calling
`factory(index, count, **kwargs)` (a module-level function, so it pickles by reference under the "spawn"
start method) and gets at most `slots[index]` episodes at once.

Start method: "fork" on Linux when this process runs a single thread (a fork copies only the calling
thread, so locks held by other threads would stay locked in the child), else "spawn". A forked worker
inherits every imported module (the SDKs, envsim): it starts in milliseconds instead of the second or
two a spawned interpreter needs to import them, which matters on runs of a few minutes. The child never
touches the parent's event loop (it runs its own) and closes its copies of the parent's pipe ends, so a
parent killed with SIGKILL still ends every worker's input.

Failures: an exception raised by a worker's simulate (a run-stopping error) is re-raised by the
parent's `simulate`, which stops the run; a worker that exits unexpectedly fails its in-flight episodes
(and every later one) with a RunError. `aclose()` stops the workers (terminating them when the run
was cancelled or failed); episodes they had in flight are not recorded and are redone on resume.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import inspect
import multiprocessing
import pickle
import signal
import sys
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, Protocol

from envsim.errors import RunError
from envsim.recording.trace import Trace
from envsim.recording.wire import TraceReceiver, TraceSender
from envsim.simulation.model_calls import describe_error


class WorkerSimulator(Protocol):
    """What a worker process runs: built once per process by the pool's factory."""

    async def simulate(self, spec: Any) -> Trace: ...

    async def aclose(self) -> None: ...


WorkerFactory = Callable[..., WorkerSimulator | Awaitable[WorkerSimulator]]


def default_start_method() -> str:
    """ "fork" where it is safe (Linux, only one thread in this process), else "spawn"."""
    if sys.platform.startswith("linux") and threading.active_count() == 1:
        return "fork"
    return "spawn"


def split_evenly(total: int, parts: int) -> list[int]:
    """`total` as `parts` near-equal shares, larger ones first: split_evenly(5, 2) == [3, 2]."""
    return [total // parts + (1 if k < total % parts else 0) for k in range(parts)]


@dataclass
class _Worker:
    index: int
    process: BaseProcess
    conn: Connection
    slots: int
    in_flight: dict[str, asyncio.Future[Trace]] = field(default_factory=dict)
    traces: TraceReceiver = field(default_factory=TraceReceiver)  # the base states this worker sent


class ProcessPool:
    """`count` worker processes with `slots[k]` open episodes each; see the module docstring."""

    def __init__(self, factory: WorkerFactory, kwargs: dict[str, Any], slots: list[int]) -> None:
        if not slots or min(slots) < 1:
            raise ValueError("every worker process needs at least one slot")
        #: what `start` will use, as things stand (checked again there: threads may start meanwhile)
        self.start_method = default_start_method()
        self.factory = factory
        self.kwargs = kwargs
        self.slots = slots
        self._workers: list[_Worker] = []
        self._failure: BaseException | None = None
        self._closing = False
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def started(self) -> bool:
        return bool(self._workers)

    def start(self) -> None:
        """Start the processes; each builds its simulator, then takes episodes."""
        if self.started:
            raise RuntimeError("the pool is already started")
        self._loop = asyncio.get_running_loop()
        self.start_method = default_start_method()
        context = multiprocessing.get_context(self.start_method)
        forking = self.start_method == "fork"
        count = len(self.slots)
        parent_ends: list[Connection] = []
        for index, slots in enumerate(self.slots):
            parent_end, child_end = context.Pipe()
            parent_ends.append(parent_end)
            # A forked child closes its copies of every parent end (its own and earlier workers').
            inherited = list(parent_ends) if forking else []
            process = context.Process(
                target=_worker_main,
                args=(self.factory, self.kwargs, index, count, child_end, inherited),
                name=f"envsim-worker-{index}",
                daemon=True,  # never outlive the parent
            )
            process.start()
            child_end.close()
            self._workers.append(_Worker(index, process, parent_end, slots))
        # Reader threads only now: forking while they run would copy a process with threads.
        for worker in self._workers:
            threading.Thread(target=self._read, args=(worker,), name=worker.process.name, daemon=True).start()

    async def simulate(self, spec: Any) -> Trace:
        if self._failure is not None:
            raise self._failure
        worker = max(self._workers, key=lambda w: w.slots - len(w.in_flight))
        if len(worker.in_flight) >= worker.slots:
            raise RuntimeError("more episodes in flight than the worker processes have slots")
        assert self._loop is not None
        future: asyncio.Future[Trace] = self._loop.create_future()
        worker.in_flight[spec.episode_id] = future
        try:
            worker.conn.send(("run", spec))
            return await future
        finally:
            worker.in_flight.pop(spec.episode_id, None)

    async def aclose(self) -> None:
        """Stop every worker: politely when idle, else (cancelled or failed run) by terminating it."""
        self._closing = True
        for worker in self._workers:
            with contextlib.suppress(OSError):
                worker.conn.send(("stop", None))
            if worker.in_flight:
                worker.process.terminate()
        await asyncio.to_thread(self._join_all)

    def _join_all(self) -> None:
        for worker in self._workers:
            worker.process.join(timeout=10)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join(timeout=5)
            worker.conn.close()

    # ------------------------------------------------------------------ messages from the workers

    def _read(self, worker: _Worker) -> None:
        """Reader thread: hand each message to the event loop; report the worker's exit."""
        assert self._loop is not None
        while True:
            try:
                message = worker.conn.recv()
            except (EOFError, OSError):
                break
            try:
                self._loop.call_soon_threadsafe(self._on_message, worker, message)
            except RuntimeError:  # the loop is closed: the run is over
                return
        worker.process.join(timeout=5)
        try:
            self._loop.call_soon_threadsafe(self._on_exit, worker)
        except RuntimeError:
            return

    def _on_message(self, worker: _Worker, message: tuple[str, Any, Any]) -> None:
        kind, episode_id, payload = message
        if kind == "fatal":
            self._fail(RunError(f"worker process {worker.index} could not start: {payload}"))
            return
        outcome: Trace | BaseException
        if kind == "trace":
            try:
                outcome = worker.traces.decode(payload)  # always, even if cancelled: it may carry a base state
            except Exception as exc:  # a protocol bug: fail the episode, not the reader
                outcome = RunError(f"worker process {worker.index} sent an unreadable trace: {describe_error(exc)}")
        else:
            outcome = _load_error(payload)
        future = worker.in_flight.get(episode_id)
        if future is None or future.done():
            return  # the episode was cancelled meanwhile
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)

    def _on_exit(self, worker: _Worker) -> None:
        if self._closing:
            return
        code = worker.process.exitcode
        lost = len(worker.in_flight)
        self._fail(
            RunError(
                f"worker process {worker.index} (pid {worker.process.pid}) exited unexpectedly (exit code {code}); "
                f"its {lost} in-flight episode{'s' if lost != 1 else ''} were not recorded",
                hint="run the same command again to resume (unrecorded episodes are redone); "
                "if it keeps happening, check memory limits or run with --processes 1",
            )
        )

    def _fail(self, error: BaseException) -> None:
        if self._failure is None:
            self._failure = error
        for worker in self._workers:
            for future in worker.in_flight.values():
                if not future.done():
                    future.set_exception(self._failure)


# ---------------------------------------------------------------------- the worker process


def _dump_error(exc: BaseException) -> bytes:
    """The exception itself when it survives pickling, else a RunError carrying its description."""
    try:
        data = pickle.dumps(exc)
        pickle.loads(data)
        return data
    except Exception:
        return pickle.dumps(RunError(describe_error(exc)))


def _load_error(payload: bytes) -> BaseException:
    error = pickle.loads(payload)
    return error if isinstance(error, BaseException) else RunError(str(error))


def _worker_main(
    factory: WorkerFactory,
    kwargs: dict[str, Any],
    index: int,
    count: int,
    conn: Connection,
    inherited: list[Connection],
) -> None:
    # Ctrl-C reaches the whole process group; the parent decides and terminates its workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for name in ("SIGTERM", "SIGHUP"):  # a forked worker would inherit the parent's stop handlers
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_DFL)
    if inherited:  # forked: drop the parent's pipe ends and its event loop's signal wake-up socket
        signal.set_wakeup_fd(-1)
        for parent_end in inherited:
            parent_end.close()
    from envsim.event_loop import run_async

    with contextlib.suppress(BrokenPipeError, EOFError):  # the parent is gone
        run_async(_serve(factory, kwargs, index, count, conn))


async def _serve(factory: WorkerFactory, kwargs: dict[str, Any], index: int, count: int, conn: Connection) -> None:
    try:
        built = factory(index, count, **kwargs)
        simulator = await built if inspect.isawaitable(built) else built
    except BaseException as exc:
        conn.send(("fatal", None, describe_error(exc)))
        return
    # What exists now (the SDKs' modules, the config, the simulator; inherited or imported) lives as long
    # as this worker. Out of the collector's reach, a full collection takes milliseconds instead of
    # stalling every episode of this worker for 0.1 s or more.
    gc.freeze()
    loop = asyncio.get_running_loop()
    stopped = asyncio.Event()
    tasks: set[asyncio.Task[None]] = set()

    traces = TraceSender()  # each distinct base state goes to the parent once, then references

    async def run_one(spec: Any) -> None:
        try:
            trace = await simulator.simulate(spec)
            message = ("trace", spec.episode_id, traces.encode(trace))
        except BaseException as exc:
            message = ("error", spec.episode_id, _dump_error(exc))
        conn.send(message)

    def start(spec: Any) -> None:
        task = loop.create_task(run_one(spec))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    def receive() -> None:
        while True:
            try:
                kind, spec = conn.recv()
            except (EOFError, OSError):
                kind, spec = "stop", None
            if kind == "stop":
                loop.call_soon_threadsafe(stopped.set)
                return
            loop.call_soon_threadsafe(start, spec)

    threading.Thread(target=receive, name="envsim-worker-receiver", daemon=True).start()
    try:
        await stopped.wait()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await simulator.aclose()

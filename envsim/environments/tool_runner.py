"""Running a python tool without blocking the event loop, with a timeout.

Sync functions run on a small pool of daemon threads (not `asyncio.to_thread`: the default executor's
threads are joined when the loop closes and at interpreter exit, so one `time.sleep(3600)` would hang
the run). A call that overruns its timeout is abandoned: the step becomes an infrastructure error, its
state view is closed (later writes raise and never land), and its thread is left to finish on its own
while a new thread serves the next calls. Async functions are awaited on the loop under the same
timeout (an async tool that blocks inside, e.g. with time.sleep, does block the loop: use asyncio.sleep).

Handing a call to a thread and back through the loop costs about 85 µs (two thread wake-ups plus the
loop's self-pipe), more than a whole read step should. So the loop first waits for the result directly
for at most `GRACE_S` (0.2 ms; measured median 26 µs for a trivial tool on this loaded 2-core machine)
and only then awaits it: most tools finish inside the grace, and no tool can hold the loop longer.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import inspect
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

DEFAULT_TIMEOUT_S = 30.0
GRACE_S = 0.0002  # the longest the loop waits synchronously for a sync tool before awaiting it


class ToolTimeout(Exception):
    """The tool call did not finish within its timeout."""


class _DaemonPool:
    """Daemon worker threads fed from one queue; grows when every worker is busy (or stuck)."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[Future[Any], Callable[[], Any]]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0

    def submit(self, fn: Callable[[], Any]) -> Future[Any]:
        future: Future[Any] = Future()
        with self._lock:
            if self._idle == 0:
                threading.Thread(target=self._work, name="envsim-tool", daemon=True).start()
                self._idle += 1
            self._idle -= 1  # this job will occupy one idle (or the new) worker
        self._jobs.put((future, fn))
        return future

    def _work(self) -> None:
        while True:
            future, fn = self._jobs.get()
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn())
                except BaseException as exc:  # delivered to the awaiting step, never lost in the thread
                    future.set_exception(exc)
            with self._lock:
                self._idle += 1


_POOL = _DaemonPool()


async def run_tool(fn: Callable[..., Any], kwargs: dict[str, Any], *, timeout_s: float) -> Any:
    """`fn(**kwargs)`, awaited if it returns an awaitable; raises ToolTimeout after `timeout_s`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    if inspect.iscoroutinefunction(fn):
        result: Any = fn(**kwargs)
    else:
        context = contextvars.copy_context()
        future = _POOL.submit(lambda: context.run(fn, **kwargs))
        try:
            result = future.result(timeout=min(GRACE_S, timeout_s))
        except concurrent.futures.TimeoutError:
            try:
                result = await asyncio.wait_for(asyncio.wrap_future(future), max(0.0, deadline - loop.time()))
            except TimeoutError:
                raise ToolTimeout(f"the tool did not return within {timeout_s:g} s") from None
    if inspect.isawaitable(result):
        try:
            result = await asyncio.wait_for(result, max(0.0, deadline - loop.time()))
        except TimeoutError:
            raise ToolTimeout(f"the tool did not return within {timeout_s:g} s") from None
    return result

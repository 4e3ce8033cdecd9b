"""Running envsim's coroutines: on uvloop when it is installed (a dependency on Linux and macOS).

An envsim run is CPU-bound in the event loop at high concurrency (HTTP parsing, JSON, scheduling);
uvloop's loop does that work in C and raises the model calls/s one process can drive.

`run_async(..., stop_on_signals=True)` makes SIGTERM and SIGHUP (what `timeout`, systemd, Kubernetes and
CI send) behave like Ctrl-C: the first signal cancels the coroutine, which winds down (finished work on
disk, status CANCELLED) and `StopSignal` is raised; a second signal exits the process at once.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

STOP_SIGNALS: tuple[signal.Signals, ...] = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)


class StopSignal(KeyboardInterrupt):
    """The run was stopped by a signal (a KeyboardInterrupt, so Ctrl-C handlers see it as one)."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(signal.Signals(signum).name)

    @property
    def exit_code(self) -> int:
        return 128 + self.signum  # the shell's convention: 130 for SIGINT, 143 for SIGTERM


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def run_async(coroutine: Coroutine[Any, Any, T], *, stop_on_signals: bool = False) -> T:
    """`asyncio.run`, on uvloop when available; see the module docstring for `stop_on_signals`."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        if not stop_on_signals or threading.current_thread() is not threading.main_thread():
            return runner.run(coroutine)
        received: list[int] = []
        try:
            return runner.run(_stoppable(coroutine, received))
        except asyncio.CancelledError:
            if received:
                raise StopSignal(received[0]) from None
            raise


async def _stoppable(coroutine: Coroutine[Any, Any, T], received: list[int]) -> T:
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None

    def on_signal(signum: int) -> None:
        if received:
            # The second signal: the user does not want to wait for the wind-down. Finished episodes
            # are already flushed line by line; a resume picks up from them.
            sys.stderr.write(f"\n{signal.Signals(signum).name} again: exiting at once\n")
            sys.stderr.flush()
            os._exit(128 + signum)
        received.append(signum)
        task.cancel()

    installed = []
    for sig in STOP_SIGNALS:
        try:
            loop.add_signal_handler(sig, on_signal, sig)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):  # e.g. Windows' proactor loop
            continue
    try:
        return await coroutine
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)

"""Running envsim's coroutines: on uvloop when it is installed (a dependency on Linux and macOS).

An envsim run is CPU-bound in the event loop at high concurrency (HTTP parsing, JSON, scheduling);
uvloop's loop does that work in C and raises the model calls/s one process can drive.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run`, on uvloop when available."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(coroutine)

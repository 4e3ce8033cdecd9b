"""Tools that take their time, for the timeout and worker-thread tests."""

from __future__ import annotations

import asyncio
import threading
import time


def sleep_forever(state: dict) -> str:
    state["counter"]["n"] = 99  # written before the timeout: must never land
    time.sleep(3600)
    return "woke up"


async def sleep_forever_async(state: dict) -> str:
    state["counter"]["n"] = 98
    await asyncio.sleep(3600)
    return "woke up"


def which_thread() -> str:
    return threading.current_thread().name


def block_briefly(seconds: float) -> str:
    time.sleep(seconds)
    return "done"


def bump(state: dict) -> int:
    state["counter"]["n"] += 1
    return state["counter"]["n"]


def peek(state: dict) -> int:
    return state["counter"]["n"]

import asyncio

import pytest

from envsim.event_loop import run_async


def test_run_async_runs_on_uvloop_when_installed() -> None:
    uvloop = pytest.importorskip("uvloop")

    async def loop_type() -> type:
        return type(asyncio.get_running_loop())

    assert issubclass(run_async(loop_type()), uvloop.Loop)

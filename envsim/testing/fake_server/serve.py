"""Run the fake model server in the foreground (`python -m envsim.testing.fake_server`, `envsim fake-server`).

The bound URL is printed alone on the first stdout line, so a parent process (benchmarks,
`FakeModelServer.start_process`) can read it; SIGINT/SIGTERM stop the server cleanly.
"""

from __future__ import annotations

import asyncio
import gc
import os
import random
import signal
import sys
from collections.abc import Callable

from envsim.errors import ConfigError
from envsim.event_loop import run_async
from envsim.testing.fake_server.faults import FAULT_KINDS, FaultPlan, Latency
from envsim.testing.fake_server.server import FakeModelServer


def parse_fault_rates(items: list[str]) -> dict[str, float]:
    """`["rate_limit=0.1", "drop=0.01"]` -> {"rate_limit": 0.1, "drop": 0.01}."""
    rates: dict[str, float] = {}
    for item in items:
        kind, sep, value = item.partition("=")
        try:
            rate = float(value)
        except ValueError:
            rate = -1.0
        if not sep or kind not in FAULT_KINDS or not 0.0 <= rate <= 1.0:
            raise ConfigError(
                f"bad fault spec {item!r}",
                hint=f"write KIND=RATE with RATE in [0, 1] and KIND one of: {', '.join(FAULT_KINDS)}",
            )
        rates[kind] = rate
    return rates


def make_latency(latency: float, jitter: float = 0.0, seed: int = 0) -> Latency:
    """A fixed latency, or uniform in [latency - jitter, latency + jitter]."""
    if jitter <= 0:
        return latency
    rng = random.Random(seed)
    return lambda: max(0.0, rng.uniform(latency - jitter, latency + jitter))


def serve(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    latency: float = 0.0,
    jitter: float = 0.0,
    handler: str | None = None,
    api_key: str | None = None,
    faults: list[str] | None = None,
    retry_after: float | None = 1.0,
    announce: Callable[[str], None] | None = None,
    exit_with_stdin: bool = False,
    batch_delay: float = 0.0,
    batch_expire_after: float | None = None,
    batch_faults: list[str] | None = None,
) -> None:
    """Serve until interrupted (or, with `exit_with_stdin`, until stdin reaches EOF). `handler` is
    `module:function` (or `file.py:function`); default: MockModel."""
    from envsim.models.registry import load_callable

    fn = load_callable(handler) if handler else None
    plan = FaultPlan(rates=parse_fault_rates(faults or []), retry_after=retry_after)
    server = FakeModelServer(
        fn,  # type: ignore[arg-type]
        latency=make_latency(latency, jitter),
        faults=plan,
        api_key=api_key,
        host=host,
        port=port,
        keep_log=False,  # a long-running server must not grow without bound
        batch_delay=batch_delay,
        batch_expire_after=batch_expire_after,
        batch_faults=FaultPlan(rates=parse_fault_rates(batch_faults or [])),
    )

    async def main() -> None:
        await server.start()
        # What exists now lives as long as the server: kept out of full collections, which would
        # otherwise hold every pending reply for 0.1 s or more (a pause no real endpoint adds).
        gc.freeze()
        (announce or _print_url)(server.url)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        if exit_with_stdin:  # the parent holds the other end of stdin: its exit (however it dies) is EOF
            stdin = sys.stdin.fileno()

            def on_stdin() -> None:
                if not os.read(stdin, 4096):
                    loop.remove_reader(stdin)
                    stop.set()

            loop.add_reader(stdin, on_stdin)
        try:
            await stop.wait()
        finally:
            await server.stop()

    run_async(main())


def _print_url(url: str) -> None:
    print(url, flush=True)

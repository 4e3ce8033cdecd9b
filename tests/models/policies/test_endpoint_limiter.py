"""Endpoint limiter: budgets, adaptive concurrency, cooldowns per endpoint, politeness, overhead."""

from __future__ import annotations

import asyncio
import time

import pytest

from envsim.errors import RateLimitError
from envsim.messages import Message
from envsim.models.base import ModelRequest, ModelResponse, Usage
from envsim.models.limits import (
    EndpointKey,
    EndpointLimiter,
    LimiterRegistry,
    LimitSettings,
    RateLimitedModel,
    estimate_tokens,
)
from envsim.models.retry import RetryingModel, RetryPolicy
from envsim.testing import FunctionModel

KEY = EndpointKey("openai", "m", "http://127.0.0.1:1/v1")


def _request(text: str = "hi") -> ModelRequest:
    return ModelRequest(messages=[Message.user(text)])


def test_endpoint_key_round_trips_model_strings() -> None:
    key = EndpointKey.parse("openai:gpt-4o@http://127.0.0.1:8000/v1")
    assert key == EndpointKey("openai", "gpt-4o", "http://127.0.0.1:8000/v1")
    assert str(key) == "openai:gpt-4o@http://127.0.0.1:8000/v1"
    assert EndpointKey.parse("anthropic:claude-haiku-4-5") == EndpointKey("anthropic", "claude-haiku-4-5")


async def test_unconstrained_acquire_is_cheap() -> None:
    limiter = EndpointLimiter(KEY, LimitSettings(max_concurrency=16))
    started = time.perf_counter()
    for _ in range(20_000):
        limiter.release(await limiter.acquire(), succeeded=True)
    per_call = (time.perf_counter() - started) / 20_000
    assert per_call < 50e-6  # microseconds, not milliseconds


async def test_concurrency_never_exceeds_the_limit() -> None:
    limiter = EndpointLimiter(KEY, LimitSettings(max_concurrency=3))
    peak = 0

    async def work() -> None:
        nonlocal peak
        permit = await limiter.acquire()
        peak = max(peak, limiter.in_flight)
        await asyncio.sleep(0.005)
        limiter.release(permit, succeeded=True)

    await asyncio.gather(*(work() for _ in range(30)))
    assert peak == 3 and limiter.in_flight == 0


async def test_requests_per_minute_budget_is_accurate() -> None:
    # 6000/min = 100/s; the bucket holds 0.1 s = 10 requests, the other 30 pace at 100/s.
    limiter = EndpointLimiter(KEY, LimitSettings(requests_per_minute=6000, burst_seconds=0.1))
    started = time.perf_counter()
    starts: list[float] = []

    async def work() -> None:
        permit = await limiter.acquire()
        starts.append(time.perf_counter() - started)
        limiter.release(permit, succeeded=True)

    await asyncio.gather(*(work() for _ in range(40)))
    assert 0.28 <= starts[-1] <= 0.6
    assert sum(1 for s in starts if s < 0.05) <= 15  # no burst beyond the bucket


async def test_tokens_per_minute_reserves_estimates_and_reconciles() -> None:
    # 60000/min = 1000 tokens/s; bucket of 100 tokens.
    limiter = EndpointLimiter(KEY, LimitSettings(tokens_per_minute=60_000, burst_seconds=0.1))
    started = time.perf_counter()
    for _ in range(6):  # 6 x 50 tokens: 2 fit the bucket, the other 200 take 0.2 s
        limiter.release(await limiter.acquire(50), used_tokens=50, succeeded=True)
    assert 0.17 <= time.perf_counter() - started <= 0.5

    # Reconciliation: a call that used 300 tokens more than reserved delays the next by ~0.3 s.
    permit = await limiter.acquire(10)
    limiter.release(permit, used_tokens=310, succeeded=True)
    started = time.perf_counter()
    limiter.release(await limiter.acquire(10), used_tokens=10, succeeded=True)
    assert time.perf_counter() - started >= 0.25


def test_token_estimate_grows_with_request_size() -> None:
    assert estimate_tokens(_request("x" * 4000)) == pytest.approx(1000, abs=2)
    assert estimate_tokens(_request("")) >= 1


async def test_retry_after_cools_down_only_that_endpoint() -> None:
    registry = LimiterRegistry(LimitSettings(max_concurrency=4))
    slow = registry.get(EndpointKey("openai", "a", "http://127.0.0.1:1/v1"))
    other = registry.get(EndpointKey("openai", "b", "http://127.0.0.1:1/v1"))
    assert registry.get(EndpointKey("openai", "a", "http://127.0.0.1:1/v1")) is slow

    slow.release(await slow.acquire(), overloaded=True, retry_after=0.3)

    started = time.perf_counter()
    other.release(await other.acquire(), succeeded=True)
    assert time.perf_counter() - started < 0.05  # the other endpoint keeps going
    assert slow.snapshot().cooldown_s > 0.2
    slow.release(await slow.acquire(), succeeded=True)
    assert time.perf_counter() - started >= 0.28


async def test_one_burst_of_429s_halves_the_window_once_and_successes_recover_it() -> None:
    limiter = EndpointLimiter(KEY, LimitSettings(max_concurrency=16))
    permits = [await limiter.acquire() for _ in range(16)]
    for permit in permits:  # all sent before the first 429 came back: one congestion event
        limiter.release(permit, overloaded=True)
    assert limiter.concurrency_limit == 8
    limiter.release(await limiter.acquire(), overloaded=True)  # a new event
    assert limiter.concurrency_limit == 4
    for _ in range(200):
        limiter.release(await limiter.acquire(), succeeded=True)
    assert limiter.concurrency_limit == 16  # additive increase, capped at num_workers


async def test_429_storm_completes_backs_off_and_recovers() -> None:
    """A server that accepts 4 concurrent requests and answers 429 beyond that, then recovers."""
    capacity = {"value": 4}
    in_flight = 0
    rejected = 0

    async def server(request: ModelRequest) -> ModelResponse:
        nonlocal in_flight, rejected
        if in_flight >= capacity["value"]:
            rejected += 1
            raise RateLimitError("too many requests", status=429, retry_after=0.01)
        in_flight += 1
        try:
            await asyncio.sleep(0.005)
        finally:
            in_flight -= 1
        return ModelResponse(message=Message.assistant("ok"), usage=Usage(requests=1))

    limiter = EndpointLimiter(KEY, LimitSettings(max_concurrency=16))
    model = RetryingModel(
        RateLimitedModel(FunctionModel(server, name=str(KEY)), limiter),
        RetryPolicy(max_attempts=50, initial_delay=0.005, max_delay=0.05),
    )
    lowest = 16

    async def call() -> str:
        nonlocal lowest
        response = await model.generate(_request())
        lowest = min(lowest, limiter.concurrency_limit)
        return response.text

    replies = await asyncio.gather(*(call() for _ in range(150)))
    assert replies == ["ok"] * 150  # the run completes
    assert rejected > 0 and lowest <= 4  # concurrency backed off to what the server takes

    capacity["value"] = 100  # the storm is over
    await asyncio.gather(*(call() for _ in range(400)))
    assert limiter.concurrency_limit == 16  # ... and recovered


async def test_politeness_keeps_the_slot_after_each_request_but_replies_at_once() -> None:
    limiter = EndpointLimiter(KEY, LimitSettings(max_concurrency=1, politeness_s=0.1))
    model = RateLimitedModel(FunctionModel(lambda r: "ok", name=str(KEY)), limiter)
    started = time.perf_counter()
    await model.generate(_request())
    first = time.perf_counter() - started
    await model.generate(_request())
    second = time.perf_counter() - started
    assert first < 0.05
    assert second >= 0.095


async def test_cancelled_waiters_do_not_leak_slots() -> None:
    limiter = EndpointLimiter(KEY, LimitSettings(max_concurrency=1))
    held = await limiter.acquire()
    waiter = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    limiter.release(held, succeeded=True)
    assert limiter.in_flight == 0
    limiter.release(await asyncio.wait_for(limiter.acquire(), 1.0), succeeded=True)


async def test_failed_calls_release_their_slot() -> None:
    limiter = EndpointLimiter(KEY, LimitSettings(max_concurrency=2))

    def boom(request: ModelRequest) -> str:
        raise ValueError("bug")

    model = RateLimitedModel(FunctionModel(boom, name=str(KEY)), limiter)
    for _ in range(5):
        with pytest.raises(ValueError):
            await model.generate(_request())
    assert limiter.in_flight == 0

"""Queue-aware concurrency (problem 5): a single-slot server is driven at its own pace, and a timeout
shrinks the window and says what to change."""

from __future__ import annotations

import asyncio

import pytest

from envsim.errors import RetryableModelError
from envsim.messages import Message
from envsim.models.base import ModelRequest
from envsim.models.limits import EndpointKey, LimiterRegistry, LimitSettings
from envsim.models.openai_provider import OpenAIChatModel
from envsim.models.retry import RetryPolicy
from envsim.models.stack import ModelPolicies, build_model_stack
from envsim.testing.fake_server import FakeModelServer

REQUEST = ModelRequest(messages=[Message.user("hi")])


async def test_a_single_slot_server_shrinks_the_window_to_its_pace() -> None:
    async with FakeModelServer(lambda request: "ok", latency=0.25, emulate="llama-cpp-python") as server:
        limits = LimiterRegistry(LimitSettings(max_concurrency=8, latency_margin_s=0.1))
        stack = build_model_stack(
            OpenAIChatModel("m", base_url=server.openai_base_url), policies=ModelPolicies(limiters=limits)
        )
        try:
            for _ in range(4):  # waves of 8: every reply but the first waits behind the others
                await asyncio.gather(*(stack.generate(REQUEST) for _ in range(8)))
        finally:
            await stack.aclose()
    limiter = limits.get(EndpointKey.parse(f"openai:m@{server.openai_base_url}"))
    # Loaded CI machines stretch every reply, so the test asks for the direction, not an exact window.
    assert limiter.congestion_events >= 1
    assert limiter.concurrency_limit < 8  # was 8: the window shrank toward the server's single slot
    assert limiter.overloads == 0  # no 429 was needed to get there


async def test_replies_at_their_usual_pace_keep_the_window() -> None:
    async with FakeModelServer(lambda request: "ok", latency=0.05) as server:  # parallel: no queue
        limits = LimiterRegistry(LimitSettings(max_concurrency=8, latency_margin_s=1.0))  # a loaded CI box
        stack = build_model_stack(
            OpenAIChatModel("m", base_url=server.openai_base_url), policies=ModelPolicies(limiters=limits)
        )
        try:
            for _ in range(4):
                await asyncio.gather(*(stack.generate(REQUEST) for _ in range(8)))
        finally:
            await stack.aclose()
    limiter = limits.get(EndpointKey.parse(f"openai:m@{server.openai_base_url}"))
    assert limiter.congestion_events == 0 and limiter.concurrency_limit == 8


async def test_a_timeout_shrinks_the_window_and_says_what_to_change() -> None:
    async with FakeModelServer(lambda request: "ok") as server:
        server.faults.inject("hang", times=1)
        server.faults.hang_seconds = 5
        limits = LimiterRegistry(LimitSettings(max_concurrency=8))
        model = OpenAIChatModel("m", base_url=server.openai_base_url, timeout=0.5)
        policies = ModelPolicies(limiters=limits, retry=RetryPolicy(max_attempts=1))
        stack = build_model_stack(model, policies=policies)
        try:
            with pytest.raises(RetryableModelError) as caught:
                await stack.generate(REQUEST)
        finally:
            await stack.aclose()
    hint = caught.value.hint or ""
    assert "remote_params.connection_timeout" in hint and "remote_params.num_workers" in hint
    limiter = limits.get(EndpointKey.parse(f"openai:m@{server.openai_base_url}"))
    assert limiter.concurrency_limit == 4 and limiter.congestion_events == 1

"""The policy stack end to end: real OpenAI / Anthropic SDKs against the fake server over HTTP."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import BaseModel

from envsim.errors import CircuitOpenError, ModelError, RetryableModelError
from envsim.messages import Message
from envsim.models.base import ChatModel, ModelRequest, RequestContext
from envsim.models.breaker import BreakerRegistry, BreakerSettings
from envsim.models.cache import ResponseCache
from envsim.models.limits import EndpointKey, LimiterRegistry, LimitSettings
from envsim.models.pricing import PriceTable
from envsim.models.retry import RetryPolicy
from envsim.models.stack import ModelPolicies, build_model_stack
from envsim.models.structured import structured_call
from envsim.testing.fake_server import FakeModelServer, FaultPlan


def _request(text: str = "hello", episode: str = "ep1", role: str = "assistant") -> ModelRequest:
    return ModelRequest(messages=[Message.user(text)], context=RequestContext(episode_id=episode, role=role))


def _fast_retry(max_attempts: int = 6) -> RetryPolicy:
    return RetryPolicy(max_attempts=max_attempts, initial_delay=0.005, max_delay=0.05)


@pytest.fixture
async def server() -> AsyncIterator[FakeModelServer]:
    async with FakeModelServer(faults=FaultPlan(retry_after=0.15)) as running:
        yield running


def _openai(server: FakeModelServer, policies: ModelPolicies) -> ChatModel:
    return build_model_stack(f"openai:fake-gpt@{server.openai_base_url}", policies=policies)


async def test_rate_limit_retry_after_is_honoured_per_endpoint(server: FakeModelServer) -> None:
    policies = ModelPolicies(retry=_fast_retry())
    model = _openai(server, policies)
    server.faults.inject("rate_limit", times=2)
    started = time.perf_counter()
    response = await model.generate(_request())
    elapsed = time.perf_counter() - started
    assert response.text and response.call is not None and response.call.attempts == 3
    assert "HTTP 429" in response.call.errors[0]
    assert elapsed >= 0.29 and response.call.waited_s >= 0.3  # two Retry-After: 0.15 waits, never less
    limiter = policies.limiters.get(EndpointKey.parse(model.name))
    assert limiter.overloads == 2 and server.count == 3
    await model.aclose()


@pytest.mark.parametrize("fault", ["server_error", "overloaded", "drop", "malformed_json"])
async def test_retryable_faults_are_retried_until_success(server: FakeModelServer, fault: str) -> None:
    model = _openai(server, ModelPolicies(retry=_fast_retry()))
    server.faults.inject(fault, times=2)
    response = await model.generate(_request())
    assert response.text and response.call is not None and response.call.attempts == 3
    await model.aclose()


async def test_client_errors_are_not_retried(server: FakeModelServer) -> None:
    model = _openai(server, ModelPolicies(retry=_fast_retry()))
    server.faults.inject("bad_request")
    with pytest.raises(ModelError) as raised:
        await model.generate(_request())
    assert not isinstance(raised.value, RetryableModelError) and raised.value.status == 400
    assert server.count == 1
    await model.aclose()


async def test_persistent_server_failure_opens_the_breaker(server: FakeModelServer) -> None:
    policies = ModelPolicies(retry=_fast_retry(2), breakers=BreakerRegistry(BreakerSettings(consecutive_failures=3)))
    model = _openai(server, policies)
    server.faults.inject("server_error", times=100)
    failures: list[BaseException] = []
    for i in range(5):
        try:
            await model.generate(_request(f"q{i}"))
        except ModelError as exc:
            failures.append(exc)
    assert [type(e) for e in failures] == [RetryableModelError] * 2 + [CircuitOpenError] * 3
    assert "3 consecutive calls failed" in str(failures[2]) and "HTTP 500" in str(failures[2])
    assert server.count == 6  # 3 calls x 2 attempts, then nothing: it fails fast
    await model.aclose()


async def test_auth_failure_stops_at_once_with_a_clear_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong-key-123456")
    async with FakeModelServer(api_key="sk-right") as server:
        model = _openai(server, ModelPolicies(retry=_fast_retry()))
        with pytest.raises(CircuitOpenError) as raised:
            await model.generate(_request())
        with pytest.raises(CircuitOpenError):
            await model.generate(_request("again"))
        message = str(raised.value)
        assert "refused the credentials" in message and "HTTP 401" in message
        assert "sk-wrong-key-123456" not in message  # secrets never in messages
        assert server.count == 1
        await model.aclose()


async def test_429_storm_completes_while_concurrency_backs_off_and_recovers() -> None:
    faults = FaultPlan(rates={"rate_limit": 0.4}, retry_after=0.02, seed=3)
    async with FakeModelServer(faults=faults, latency=0.005) as server:
        policies = ModelPolicies(
            limiters=LimiterRegistry(LimitSettings(max_concurrency=16)), retry=_fast_retry(max_attempts=40)
        )
        model = _openai(server, policies)
        limiter = policies.limiters.get(EndpointKey.parse(model.name))
        lowest = 16

        async def call(i: int) -> str:
            nonlocal lowest
            response = await model.generate(_request(f"q{i}", episode=f"ep{i}"))
            lowest = min(lowest, limiter.concurrency_limit)
            return response.text

        replies = await asyncio.gather(*(call(i) for i in range(80)))
        assert all(replies) and len(replies) == 80  # the run completes
        assert limiter.overloads > 0 and lowest < 8  # it backed off

        server.faults = FaultPlan()  # the storm is over
        await asyncio.gather(*(call(i) for i in range(200)))
        assert limiter.concurrency_limit == 16  # and recovered
        await model.aclose()


async def test_cache_replays_exactly_without_touching_the_server(server: FakeModelServer, tmp_path: Path) -> None:
    first_model = _openai(server, ModelPolicies(cache=ResponseCache(tmp_path)))
    first = [(await first_model.generate(_request(f"q{i % 2}"))).text for i in range(4)]
    await first_model.aclose()
    assert server.count == 4  # identical calls in an episode are separate samples

    replay_model = _openai(server, ModelPolicies(cache=ResponseCache(tmp_path)))
    replay = [await replay_model.generate(_request(f"q{i % 2}")) for i in range(4)]
    assert [r.text for r in replay] == first and all(r.cached for r in replay)
    assert server.count == 4
    assert replay[0].saved_usage is not None and replay[0].saved_usage.input_tokens > 0
    await replay_model.aclose()


async def test_local_server_usage_has_no_made_up_price_unless_the_user_gives_one(server: FakeModelServer) -> None:
    unpriced = build_model_stack(f"openai:gpt-4o-mini@{server.openai_base_url}", policies=ModelPolicies())
    response = await unpriced.generate(_request())
    assert response.usage.input_tokens > 0 and response.usage.cost_usd is None
    priced = build_model_stack(
        f"openai:gpt-4o-mini@{server.openai_base_url}",
        policies=ModelPolicies(prices=PriceTable({"gpt-4o-mini": {"input": 1.0, "output": 2.0}})),
    )
    response = await priced.generate(_request())
    expected = (response.usage.input_tokens * 1.0 + response.usage.output_tokens * 2.0) / 1e6
    assert response.usage.cost_usd == pytest.approx(expected)
    await unpriced.aclose()
    await priced.aclose()


async def test_anthropic_overload_is_retried_and_usage_is_tracked(
    server: FakeModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    policies = ModelPolicies(retry=_fast_retry())
    model = build_model_stack(f"anthropic:claude-haiku-4-5@{server.anthropic_base_url}", policies=policies)
    server.faults.inject("overloaded")
    response = await model.generate(_request(role="user"))
    assert response.call is not None and response.call.attempts == 2 and "HTTP 529" in response.call.errors[0]
    assert policies.tracker.by_role()["user"].requests == 1
    await model.aclose()


class Verdict(BaseModel):
    resolved: bool
    summary: str


async def test_structured_call_over_the_wire(server: FakeModelServer) -> None:
    model = _openai(server, ModelPolicies())
    result = await structured_call(
        model, system="Judge the chat.", input={"chat": ["hi", "hello"]}, output_type=Verdict
    )
    assert isinstance(result.value, Verdict) and result.attempts == 1
    assert server.requests[0].response_schema == Verdict.model_json_schema()
    await model.aclose()

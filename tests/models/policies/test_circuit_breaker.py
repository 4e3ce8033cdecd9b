"""Circuit breaker: opens on persistent failure, at once on auth errors, and then fails fast."""

from __future__ import annotations

import contextlib

import pytest

from envsim.errors import CircuitOpenError, ModelAuthError, ModelError, RetryableModelError
from envsim.messages import Message
from envsim.models.base import ModelRequest
from envsim.models.breaker import BreakerRegistry, BreakerSettings, CircuitBreaker, CircuitBreakerModel
from envsim.models.limits import EndpointKey
from envsim.testing import FunctionModel

ENDPOINT = "openai:m@http://127.0.0.1:9/v1"


def _request() -> ModelRequest:
    return ModelRequest(messages=[Message.user("hi")])


def _model(outcomes: list[BaseException | str], breaker: CircuitBreaker) -> tuple[CircuitBreakerModel, FunctionModel]:
    pending = list(outcomes)

    def reply(request: ModelRequest) -> str:
        outcome = pending.pop(0) if pending else "ok"
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    inner = FunctionModel(reply, name=ENDPOINT)
    return CircuitBreakerModel(inner, breaker), inner


async def test_opens_after_consecutive_failures_and_then_fails_fast() -> None:
    breaker = CircuitBreaker(ENDPOINT, BreakerSettings(consecutive_failures=3))
    errors: list[BaseException | str] = [RetryableModelError("server error", status=500)] * 10
    model, inner = _model(errors, breaker)
    for _ in range(2):
        with pytest.raises(RetryableModelError):
            await model.generate(_request())
    with pytest.raises(CircuitOpenError) as opened:
        await model.generate(_request())
    message = str(opened.value)
    assert ENDPOINT in message and "3 consecutive calls failed" in message
    assert "HTTP 500" in message and "server error" in message
    assert "check that the server is up" in message
    assert isinstance(opened.value.__cause__, RetryableModelError)

    calls_before = inner.calls
    with pytest.raises(CircuitOpenError):
        await model.generate(_request())
    assert inner.calls == calls_before  # no request reached the endpoint


async def test_successes_reset_the_consecutive_count() -> None:
    breaker = CircuitBreaker(ENDPOINT, BreakerSettings(consecutive_failures=3, min_window_calls=100))
    fail = RetryableModelError("flaky", status=503)
    model, _ = _model([fail, fail, "ok", fail, fail, "ok"], breaker)
    for _ in range(6):
        with contextlib.suppress(RetryableModelError):
            await model.generate(_request())
    assert not breaker.is_open


async def test_opens_on_a_high_failure_ratio_in_the_window() -> None:
    breaker = CircuitBreaker(ENDPOINT, BreakerSettings(consecutive_failures=100, window=10, min_window_calls=10))
    fail = RetryableModelError("flaky", status=502)
    model, _ = _model([fail, "ok"] * 10, breaker)
    with pytest.raises(CircuitOpenError, match="5 of the last 10 calls failed"):
        for _ in range(20):
            with contextlib.suppress(RetryableModelError):
                await model.generate(_request())


async def test_auth_error_opens_at_once_with_a_clear_message() -> None:
    breaker = CircuitBreaker(ENDPOINT)
    model, inner = _model([ModelAuthError("invalid api key", status=401)], breaker)
    with pytest.raises(CircuitOpenError) as opened:
        await model.generate(_request())
    message = str(opened.value)
    assert "refused the credentials" in message and "HTTP 401" in message and "API key" in message
    with pytest.raises(CircuitOpenError):
        await model.generate(_request())
    assert inner.calls == 1


async def test_request_specific_client_errors_do_not_count() -> None:
    breaker = CircuitBreaker(ENDPOINT, BreakerSettings(consecutive_failures=2))
    model, _ = _model([ModelError("context too long", status=400)] * 5, breaker)
    for _ in range(5):
        with pytest.raises(ModelError) as raised:
            await model.generate(_request())
        assert not isinstance(raised.value, CircuitOpenError)
    assert not breaker.is_open


def test_registry_shares_one_breaker_per_endpoint() -> None:
    registry = BreakerRegistry()
    a = registry.get(EndpointKey.parse(ENDPOINT))
    assert registry.get(EndpointKey.parse(ENDPOINT)) is a
    assert registry.get(EndpointKey.parse("openai:other")) is not a
    a.record_failure(ModelAuthError("no key", status=401))
    assert registry.open_breakers() == [a]

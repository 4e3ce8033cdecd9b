"""Retry policy: backoff timing, Retry-After, which errors are retried, and the recorded attempts."""

from __future__ import annotations

import random
import time

import pytest

from envsim.errors import ModelAuthError, ModelError, RateLimitError, RetryableModelError
from envsim.messages import Message
from envsim.models.base import ModelRequest, ModelResponse
from envsim.models.retry import RetryingModel, RetryPolicy
from envsim.testing import FunctionModel


def _request() -> ModelRequest:
    return ModelRequest(messages=[Message.user("hi")])


def _failing_then_ok(errors: list[BaseException]) -> FunctionModel:
    pending = list(errors)

    def reply(request: ModelRequest) -> str:
        if pending:
            raise pending.pop(0)
        return "ok"

    return FunctionModel(reply, name="openai:test")


class _RecordingSleep:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


async def test_retries_retryable_errors_then_records_attempts() -> None:
    inner = _failing_then_ok([RetryableModelError("boom", status=500), RetryableModelError("drop")])
    sleep = _RecordingSleep()
    model = RetryingModel(inner, RetryPolicy(max_attempts=5, initial_delay=1.0, jitter=False), sleep=sleep)

    response = await model.generate(_request())

    assert response.text == "ok"
    assert inner.calls == 3
    assert sleep.waits == [1.0, 2.0]  # exponential without jitter
    assert response.call is not None
    assert response.call.attempts == 3
    assert response.call.waited_s == pytest.approx(3.0)
    assert "HTTP 500" in response.call.errors[0] and len(response.call.errors) == 2


async def test_first_try_success_records_one_attempt() -> None:
    model = RetryingModel(_failing_then_ok([]), RetryPolicy())
    response = await model.generate(_request())
    assert response.call is not None and response.call.attempts == 1 and response.call.errors == []


async def test_retry_after_is_never_undercut_even_with_jitter() -> None:
    inner = _failing_then_ok([RateLimitError("slow down", status=429, retry_after=7.5)] * 3)
    sleep = _RecordingSleep()
    policy = RetryPolicy(max_attempts=4, initial_delay=0.01, max_delay=0.02, jitter=True)
    await RetryingModel(inner, policy, sleep=sleep, rng=random.Random(1)).generate(_request())
    assert sleep.waits == [7.5, 7.5, 7.5]


async def test_real_backoff_timing_with_small_delays() -> None:
    inner = _failing_then_ok([RateLimitError("429", status=429, retry_after=0.05), RetryableModelError("500")])
    policy = RetryPolicy(max_attempts=3, initial_delay=0.02, multiplier=2.0, jitter=False)
    started = time.perf_counter()
    response = await RetryingModel(inner, policy).generate(_request())
    elapsed = time.perf_counter() - started
    # 0.05 (Retry-After beats the 0.02 backoff) + 0.04 (second backoff step)
    assert 0.085 <= elapsed < 0.5
    assert response.call is not None and response.call.waited_s == pytest.approx(0.09)


def test_full_jitter_stays_within_the_exponential_cap() -> None:
    policy = RetryPolicy(initial_delay=1.0, max_delay=5.0, multiplier=2.0, jitter=True)
    rng = random.Random(0)
    error = RetryableModelError("x")
    for attempt, cap in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 5.0), (9, 5.0)]:
        waits = [policy.delay(attempt, error, rng) for _ in range(200)]
        assert all(0.0 <= w <= cap for w in waits)
        assert max(waits) > cap * 0.8  # actually spread over the range


@pytest.mark.parametrize(
    "error",
    [ModelAuthError("bad key", status=401), ModelError("bad request", status=400), ModelError("not found", status=404)],
)
async def test_non_retryable_errors_are_raised_at_once(error: ModelError) -> None:
    inner = _failing_then_ok([error])
    sleep = _RecordingSleep()
    with pytest.raises(type(error)) as raised:
        await RetryingModel(inner, RetryPolicy(max_attempts=5), sleep=sleep).generate(_request())
    assert inner.calls == 1 and sleep.waits == []
    assert raised.value.attempts == 1


async def test_gives_up_after_max_attempts_and_says_so() -> None:
    inner = _failing_then_ok([RetryableModelError("server error", status=503)] * 10)
    sleep = _RecordingSleep()
    with pytest.raises(RetryableModelError) as raised:
        await RetryingModel(inner, RetryPolicy(max_attempts=3, jitter=False), sleep=sleep).generate(_request())
    assert inner.calls == 3
    assert raised.value.attempts == 3
    assert "gave up after 3 attempts" in str(raised.value)


async def test_retry_after_beyond_the_limit_gives_up_instead_of_stalling() -> None:
    inner = _failing_then_ok([RateLimitError("quota", status=429, retry_after=3600)])
    with pytest.raises(RateLimitError):
        await RetryingModel(inner, RetryPolicy(max_retry_after=60), sleep=_RecordingSleep()).generate(_request())
    assert inner.calls == 1


def test_policy_from_remote_params_counts_retries_not_attempts() -> None:
    from envsim.config.models import RemoteParams

    assert RetryPolicy.from_remote_params(RemoteParams(max_retries=0)).max_attempts == 1
    assert RetryPolicy.from_remote_params(RemoteParams(max_retries=4)).max_attempts == 5


async def test_response_objects_pass_through_unchanged_otherwise() -> None:
    inner = FunctionModel(lambda r: ModelResponse(message=Message.assistant("x"), model="m"), name="openai:m")
    response = await RetryingModel(inner, RetryPolicy()).generate(_request())
    assert response.model == "m" and response.text == "x"

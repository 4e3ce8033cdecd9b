"""Retry policy for network/server errors: exponential backoff with full jitter, honouring Retry-After.

Hand-written rather than tenacity: we need the wait to be *at least* the server's Retry-After, a record
of every attempt on the response, and an async sleep that tests can replace; tenacity would need custom
wait/stop/record hooks for each of those, which is more code than the loop below.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from envsim.config.models import RemoteParams
from envsim.errors import ModelError
from envsim.models.base import ChatModel, ModelCallRecord, ModelRequest, ModelResponse, ModelWrapper
from envsim.models.unreachable import UNREACHABLE_ATTEMPTS, UNREACHABLE_RETRY_DELAY_S, UnreachableEndpointError

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class RetryPolicy:
    """When and how long to wait before re-sending a request that failed with a `RetryableModelError`.

    `max_attempts` counts the first try (1 = never retry). Attempt n (n >= 1 failures so far) waits a
    uniformly random time in [0, min(max_delay, initial_delay * multiplier**(n-1))] ("full jitter", so
    many workers hit by the same outage do not retry in lock-step), or exactly that cap when `jitter` is
    off; never less than the server's Retry-After. A Retry-After longer than `max_retry_after` gives up
    at once instead of stalling the run.
    """

    max_attempts: int = 6
    initial_delay: float = 1.0
    max_delay: float = 60.0
    multiplier: float = 2.0
    jitter: bool = True
    max_retry_after: float = 600.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("RetryPolicy.max_attempts must be >= 1 (it counts the first try)")
        if self.initial_delay < 0 or self.max_delay < 0 or self.multiplier < 1:
            raise ValueError("RetryPolicy needs initial_delay >= 0, max_delay >= 0 and multiplier >= 1")

    @classmethod
    def from_remote_params(cls, params: RemoteParams) -> RetryPolicy:
        """`remote_params.max_retries` counts retries, not attempts. The backoff delays come from
        `initial_retry_delay` / `max_retry_delay`, or oumi's `retry_backoff_base` / `_max` when given."""
        initial = params.retry_backoff_base if params.retry_backoff_base is not None else params.initial_retry_delay
        longest = params.retry_backoff_max if params.retry_backoff_max is not None else params.max_retry_delay
        return cls(max_attempts=params.max_retries + 1, initial_delay=initial, max_delay=max(longest, initial))

    def should_retry(self, error: BaseException, attempt: int) -> bool:
        """`attempt` is the number of attempts made so far (the one that just failed included)."""
        if not isinstance(error, ModelError) or not error.retryable:
            return False
        if attempt >= self.max_attempts:
            return False
        return error.retry_after is None or error.retry_after <= self.max_retry_after

    def delay(self, attempt: int, error: ModelError, rng: random.Random | None = None) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        cap = min(self.max_delay, self.initial_delay * self.multiplier ** (attempt - 1))
        wait = (rng or random).uniform(0.0, cap) if self.jitter else cap
        if error.retry_after is not None:
            wait = max(wait, error.retry_after)
        return wait


def _describe(error: BaseException) -> str:
    status = getattr(error, "status", None)
    head = f"HTTP {status}: " if status else ""
    text = getattr(error, "message", None) or str(error)
    return f"{type(error).__name__}: {head}{text}"[:500]


class RetryingModel(ModelWrapper):
    """Re-sends retryable failures per `policy`; non-retryable errors (auth, other 4xx) pass through at once.

    Every response gets `response.call` (attempts, one line per failed attempt, seconds waited). When it
    gives up, the last error is raised with `.attempts` set and the give-up noted in its message.
    """

    def __init__(
        self,
        inner: ChatModel,
        policy: RetryPolicy,
        *,
        rng: random.Random | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        super().__init__(inner)
        self.policy = policy
        self._rng = rng or random.Random()
        self._sleep = sleep

    async def generate(self, request: ModelRequest) -> ModelResponse:
        attempt = 0
        errors: list[str] = []
        waited = 0.0
        while True:
            attempt += 1
            try:
                response = await self.inner.generate(request)
            except ModelError as exc:
                errors.append(_describe(exc))
                unreachable = isinstance(exc, UnreachableEndpointError)
                if not self.policy.should_retry(exc, attempt) or (unreachable and attempt >= UNREACHABLE_ATTEMPTS):
                    raise _gave_up(exc, attempt, waited) from None
                # Nothing answers: a few quick retries (a restarting server), not minutes of backoff.
                wait = (
                    UNREACHABLE_RETRY_DELAY_S * attempt if unreachable else self.policy.delay(attempt, exc, self._rng)
                )
                waited += wait
                await self._sleep(wait)
                continue
            response.call = ModelCallRecord(attempts=attempt, errors=errors, waited_s=round(waited, 6))
            return response


def _gave_up(error: ModelError, attempts: int, waited: float) -> ModelError:
    # A provider that already sent more than one request for the last attempt says so in `attempts`.
    error.attempts = attempts + (error.attempts or 1) - 1
    if attempts > 1:
        error.message = f"{error.message} (gave up after {attempts} attempts, {waited:.1f}s of backoff)"
        error.args = (error.render(),)
    return error

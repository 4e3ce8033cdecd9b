"""Per-endpoint politeness: request/token budgets, adaptive concurrency (AIMD), Retry-After cooldowns.

The concurrency window shrinks on 429/overload, on timeouts, and when replies get far slower than the
endpoint's own floor: a server that queues requests (one slot, a saturated batch) answers each of them
later by the wait, so latency, not an error, is its only signal. The floor is the fastest reply seen, per
output token (+16, so short replies count fairly), drifting up slowly so one lucky reply does not pin it;
a reply `latency_ratio` times slower than that, and `latency_margin_s` seconds slower, shrinks the window
once per window's worth of requests (the same epoch rule as for 429s). Successes grow it back by one slot
per window, as before.

One `EndpointLimiter` per (provider, model, base_url), shared by the whole run through a
`LimiterRegistry`, so every role and episode calling the same endpoint draws from the same budgets, and
a 429 from one endpoint pauses only that endpoint.

Event-driven, not polled: an unconstrained `acquire` is a few comparisons with no await; a constrained
one parks a future in a FIFO queue that is woken by a release or by one timer set for the exact moment
a budget refills or a cooldown ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import deque
from dataclasses import dataclass

from envsim.config.models import RemoteParams
from envsim.errors import RateLimitError
from envsim.models.base import ChatModel, ModelRequest, ModelResponse, ModelWrapper
from envsim.models.http_errors import RequestTimeoutError


@dataclass(frozen=True)
class EndpointKey:
    """Who we are being polite to: one provider deployment of one model."""

    provider: str
    model: str
    base_url: str | None = None

    def __str__(self) -> str:
        text = f"{self.provider}:{self.model}"
        return f"{text}@{self.base_url}" if self.base_url else text

    @classmethod
    def parse(cls, model_name: str) -> EndpointKey:
        """From a model string / `ChatModel.name`: "provider:model[@base_url]" (provider optional)."""
        name, _, base_url = model_name.partition("@")
        provider, sep, model = name.partition(":")
        if not sep:
            provider, model = "", name
        return cls(provider=provider, model=model, base_url=base_url or None)


@dataclass(frozen=True)
class LimitSettings:
    """Budgets of one endpoint. `None` budgets are unlimited.

    `burst_seconds`: token buckets hold this many seconds of budget, so a fresh run starts smoothly
    instead of firing a whole minute's worth of requests at once.
    `politeness_s`: the seed's `politeness_policy`; a worker's slot stays taken this long after each
    request (the caller gets its reply at once).
    """

    max_concurrency: int = 16
    min_concurrency: int = 1
    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None
    politeness_s: float = 0.0
    burst_seconds: float = 1.0
    decrease_factor: float = 0.5
    latency_ratio: float | None = 4.0  # None: latency never shrinks the window
    latency_margin_s: float = 2.0

    def __post_init__(self) -> None:
        if self.max_concurrency < 1 or not 1 <= self.min_concurrency <= self.max_concurrency:
            raise ValueError("LimitSettings needs 1 <= min_concurrency <= max_concurrency")
        if not 0 < self.decrease_factor < 1:
            raise ValueError("LimitSettings.decrease_factor must be in (0, 1)")

    @classmethod
    def from_remote_params(cls, params: RemoteParams) -> LimitSettings:
        return cls(
            max_concurrency=params.num_workers,
            # oumi's use_adaptive_concurrency: false keeps every worker busy (no decrease on 429s)
            min_concurrency=1 if params.use_adaptive_concurrency else params.num_workers,
            requests_per_minute=params.requests_per_minute,
            tokens_per_minute=params.tokens_per_minute,
            politeness_s=params.politeness_policy,
        )


class TokenBucket:
    """A budget refilled continuously at `per_minute / 60` per second, holding at most `capacity`.

    Takes may overdraw (a request larger than the bucket still goes once the bucket is full); the debt
    delays later takes, so the long-run rate is exact.
    """

    def __init__(self, per_minute: float, burst_seconds: float, now: float) -> None:
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, self.rate * burst_seconds)
        self.level = self.capacity
        self._updated = now

    def _refill(self, now: float) -> None:
        if now > self._updated:
            self.level = min(self.capacity, self.level + (now - self._updated) * self.rate)
            self._updated = now

    def wait_time(self, amount: float, now: float) -> float:
        """Seconds until `amount` may be taken (0 = now)."""
        self._refill(now)
        need = min(amount, self.capacity)
        return 0.0 if self.level >= need else (need - self.level) / self.rate

    def take(self, amount: float) -> None:
        self.level -= amount

    def adjust(self, delta: float, now: float) -> None:
        """Reconcile a reservation: positive `delta` = more was used than reserved."""
        self._refill(now)
        self.level = min(self.capacity, self.level - delta)


class Permit:
    """Proof that a request may be sent; hand it back to `release`."""

    __slots__ = ("epoch", "tokens")

    def __init__(self, epoch: int, tokens: int) -> None:
        self.epoch = epoch
        self.tokens = tokens


@dataclass(frozen=True)
class LimiterSnapshot:
    endpoint: str
    in_flight: int
    concurrency_limit: int
    waiting: int
    cooldown_s: float
    requests: int
    overloads: int
    congestion_events: int = 0


class EndpointLimiter:
    """Admission control for one endpoint. Use `acquire` / `release` around each request (every retry
    attempt acquires again), or wrap a model in `RateLimitedModel`."""

    def __init__(self, key: EndpointKey, settings: LimitSettings) -> None:
        self.key = key
        self.settings = settings
        now = time.monotonic()
        rpm, tpm, burst = settings.requests_per_minute, settings.tokens_per_minute, settings.burst_seconds
        self._rpm = TokenBucket(rpm, burst, now) if rpm else None
        self._tpm = TokenBucket(tpm, burst, now) if tpm else None
        self._limit = float(settings.max_concurrency)  # AIMD congestion window
        self._slots = settings.max_concurrency
        self._in_flight = 0
        self._waiters: deque[tuple[asyncio.Future[Permit], int]] = deque()
        self._cooldown_until = 0.0
        self._epoch = 0  # bumped at each decrease, so one burst of 429s halves the window once
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf
        self.requests = 0
        self.overloads = 0
        self.congestion_events = 0  # window decreases for slow replies or timeouts
        self._floor: float | None = None  # seconds per (output token + 16) of the fastest replies

    @property
    def counts_tokens(self) -> bool:
        return self._tpm is not None

    @property
    def concurrency_limit(self) -> int:
        return self._slots

    @property
    def in_flight(self) -> int:
        return self._in_flight

    # ------------------------------------------------------------------ admission

    def _admit_delay(self, tokens: int) -> float:
        """0 when a request may start now (and takes its budget); inf when it must wait for a free
        slot; otherwise seconds until a budget refills or the cooldown ends."""
        if self._in_flight >= self._slots:
            return math.inf
        if self._cooldown_until or self._rpm is not None or self._tpm is not None:
            now = time.monotonic()
            wait = self._cooldown_until - now
            if self._rpm is not None:
                wait = max(wait, self._rpm.wait_time(1, now))
            if self._tpm is not None:
                wait = max(wait, self._tpm.wait_time(tokens, now))
            if wait > 0:
                return wait
            self._cooldown_until = 0.0
            if self._rpm is not None:
                self._rpm.take(1)
            if self._tpm is not None:
                self._tpm.take(tokens)
        self._in_flight += 1
        self.requests += 1
        return 0.0

    async def acquire(self, tokens: int = 0) -> Permit:
        """Wait (FIFO) until a request of about `tokens` input tokens may be sent."""
        if not self._waiters and self._admit_delay(tokens) == 0.0:
            return Permit(self._epoch, tokens)
        future: asyncio.Future[Permit] = asyncio.get_running_loop().create_future()
        entry = (future, tokens)
        self._waiters.append(entry)
        self._wake()
        try:
            return await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release(future.result())  # granted just as we were cancelled
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(entry)
                self._wake()
            raise

    def _wake(self) -> None:
        """Grant queued requests in order while they fit; set one timer if a budget is the blocker."""
        while self._waiters:
            future, tokens = self._waiters[0]
            if future.done():  # cancelled while queued
                self._waiters.popleft()
                continue
            delay = self._admit_delay(tokens)
            if delay == 0.0:
                self._waiters.popleft()
                future.set_result(Permit(self._epoch, tokens))
                continue
            if delay != math.inf:
                self._schedule(delay)
            return

    def _schedule(self, delay: float) -> None:
        loop = asyncio.get_running_loop()
        at = loop.time() + delay
        if self._timer is not None and self._timer_at <= at:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = at
        self._timer = loop.call_at(at, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = math.inf
        self._wake()

    # ------------------------------------------------------------------ feedback

    def release(
        self,
        permit: Permit,
        *,
        overloaded: bool = False,
        retry_after: float | None = None,
        used_tokens: int | None = None,
        succeeded: bool = False,
        timed_out: bool = False,
        latency_s: float | None = None,
        output_tokens: int = 0,
    ) -> None:
        """Hand a slot back with what happened: `succeeded` grows the window additively; `overloaded`
        (429/529) shrinks it multiplicatively (once per burst) and starts a Retry-After cooldown;
        `timed_out`, or a success whose `latency_s` is far above the endpoint's floor, shrinks it too."""
        if self._tpm is not None and used_tokens is not None:
            self._tpm.adjust(used_tokens - permit.tokens, time.monotonic())
        congested = timed_out or (succeeded and latency_s is not None and self._slow(latency_s, output_tokens))
        if overloaded or congested:
            if overloaded:
                self.overloads += 1
            if permit.epoch == self._epoch:
                self._epoch += 1
                self.congestion_events += 0 if overloaded else 1
                self._limit = max(float(self.settings.min_concurrency), self._limit * self.settings.decrease_factor)
                self._slots = int(self._limit)
            if retry_after:
                self._cooldown_until = max(self._cooldown_until, time.monotonic() + retry_after)
        elif succeeded and self._limit < self.settings.max_concurrency:
            # +1 slot per window's worth of successes (TCP-style additive increase).
            self._limit = min(float(self.settings.max_concurrency), self._limit + 1.0 / self._limit)
            self._slots = int(self._limit)
        if self.settings.politeness_s > 0:
            asyncio.get_running_loop().call_later(self.settings.politeness_s, self._free_slot)
        else:
            self._free_slot()

    def _slow(self, latency_s: float, output_tokens: int) -> bool:
        """Note one reply's latency; True when it is far above the floor (the server is queueing)."""
        ratio = self.settings.latency_ratio
        per_token = latency_s / (max(0, output_tokens) + 16)
        floor = self._floor
        if floor is None or per_token < floor:
            self._floor = per_token
            return False
        self._floor = floor + (per_token - floor) * 0.01  # drift up slowly: servers do get slower
        if ratio is None:
            return False
        return per_token > ratio * floor and latency_s > floor * (output_tokens + 16) + self.settings.latency_margin_s

    def _free_slot(self) -> None:
        self._in_flight -= 1
        if self._waiters:
            self._wake()

    def snapshot(self) -> LimiterSnapshot:
        return LimiterSnapshot(
            endpoint=str(self.key),
            in_flight=self._in_flight,
            concurrency_limit=self._slots,
            waiting=len(self._waiters),
            cooldown_s=max(0.0, self._cooldown_until - time.monotonic()),
            requests=self.requests,
            overloads=self.overloads,
            congestion_events=self.congestion_events,
        )


class LimiterRegistry:
    """The run's limiters, one per endpoint, created on first use with `settings` (or a per-endpoint
    override keyed by the endpoint string)."""

    def __init__(
        self, settings: LimitSettings | None = None, overrides: dict[str, LimitSettings] | None = None
    ) -> None:
        self.settings = settings or LimitSettings()
        self.overrides = dict(overrides or {})
        self._limiters: dict[EndpointKey, EndpointLimiter] = {}

    def get(self, key: EndpointKey) -> EndpointLimiter:
        limiter = self._limiters.get(key)
        if limiter is None:
            limiter = EndpointLimiter(key, self.overrides.get(str(key), self.settings))
            self._limiters[key] = limiter
        return limiter

    def snapshot(self) -> list[LimiterSnapshot]:
        return [limiter.snapshot() for limiter in self._limiters.values()]


def estimate_tokens(request: ModelRequest) -> int:
    """Rough input size (characters / 4) used to reserve tokens-per-minute budget before sending."""
    chars = 0
    for message in request.messages:
        chars += len(message.content or "")
        for call in message.tool_calls or ():
            chars += len(call.function.name) + len(call.function.arguments)
    for tool in request.tools:
        chars += len(tool.model_dump_json())
    return chars // 4 + 1


class RateLimitedModel(ModelWrapper):
    """Sends each request through its endpoint's limiter and reports the outcome back to it."""

    def __init__(self, inner: ChatModel, limiter: EndpointLimiter) -> None:
        super().__init__(inner)
        self.limiter = limiter

    async def generate(self, request: ModelRequest) -> ModelResponse:
        limiter = self.limiter
        tokens = estimate_tokens(request) if limiter.counts_tokens else 0
        permit = await limiter.acquire(tokens)
        started = time.monotonic()
        try:
            response = await self.inner.generate(request)
        except RateLimitError as exc:
            limiter.release(permit, overloaded=True, retry_after=exc.retry_after, used_tokens=permit.tokens)
            raise
        except RequestTimeoutError:
            limiter.release(permit, timed_out=True)
            raise
        except BaseException:
            limiter.release(permit)
            raise
        used = response.usage.total_tokens if limiter.counts_tokens else None
        latency = time.monotonic() - started
        limiter.release(
            permit, succeeded=True, used_tokens=used, latency_s=latency, output_tokens=response.usage.output_tokens
        )
        return response

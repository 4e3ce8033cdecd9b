"""Normalized token usage, aggregated per role, per episode, per model and per run, with cost.

Every request counts, failed or not: a call that failed after retries records its requests (tokens
unknown). Providers normalize their own usage (`Usage.input_tokens` never includes cache reads). Response-cache
hits count in `cache_hits` with zero tokens; what they saved is tracked separately (`saved`), from the
hit's `ModelResponse.saved_usage`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from envsim.errors import CircuitOpenError, ModelError
from envsim.models.base import ChatModel, ModelRequest, ModelResponse, ModelWrapper, Usage
from envsim.models.pricing import PriceTable

UNKNOWN_ROLE = "other"


@dataclass(slots=True)
class _Sum:
    """Mutable running total (cheaper than re-building pydantic `Usage`s on every call)."""

    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cache_hits: int = 0
    retries: int = 0
    validation_retries: int = 0
    batch_requests: int = 0
    cost_usd: float | None = None

    def add(self, u: Usage) -> None:
        self.requests += u.requests
        self.input_tokens += u.input_tokens
        self.output_tokens += u.output_tokens
        self.cache_read_tokens += u.cache_read_tokens
        self.cache_write_tokens += u.cache_write_tokens
        self.cache_hits += u.cache_hits
        self.retries += u.retries
        self.validation_retries += u.validation_retries
        self.batch_requests += u.batch_requests
        if u.cost_usd is not None:
            self.cost_usd = (self.cost_usd or 0.0) + u.cost_usd

    def usage(self) -> Usage:
        return Usage(
            requests=self.requests,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            cache_read_tokens=self.cache_read_tokens,
            cache_write_tokens=self.cache_write_tokens,
            cache_hits=self.cache_hits,
            retries=self.retries,
            validation_retries=self.validation_retries,
            batch_requests=self.batch_requests,
            cost_usd=self.cost_usd,
        )


@dataclass(frozen=True)
class UsageSnapshot:
    """A consistent copy for progress displays and run summaries.

    `unpriced_models`: models whose calls have no price, so `total.cost_usd` leaves them out."""

    total: Usage
    by_role: dict[str, Usage]
    by_model: dict[str, Usage]
    saved: Usage
    unpriced_models: list[str] = field(default_factory=list)


class UsageTracker:
    """Thread- and task-safe usage accounting for one run."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._total = _Sum()
        self._saved = _Sum()
        self._by_role: dict[str, _Sum] = {}
        self._by_model: dict[str, _Sum] = {}
        self._by_episode: dict[str, dict[str, _Sum]] = {}
        self._unpriced: set[str] = set()

    def record(
        self,
        usage: Usage,
        *,
        role: str | None = None,
        episode_id: str | None = None,
        model: str | None = None,
        saved: Usage | None = None,
    ) -> None:
        role = role or UNKNOWN_ROLE
        with self._lock:
            self._total.add(usage)
            _get(self._by_role, role).add(usage)
            if model is not None:
                _get(self._by_model, model).add(usage)
                if usage.cost_usd is None and usage.requests:
                    self._unpriced.add(model)
            if episode_id is not None:
                _get(self._by_episode.setdefault(episode_id, {}), role).add(usage)
            if saved is not None:
                self._saved.add(saved)

    def total(self) -> Usage:
        with self._lock:
            return self._total.usage()

    def by_role(self) -> dict[str, Usage]:
        with self._lock:
            return {role: s.usage() for role, s in self._by_role.items()}

    def episode(self, episode_id: str) -> dict[str, Usage]:
        """Role -> usage of one episode (the shape of `Trace.usage`)."""
        with self._lock:
            return {role: s.usage() for role, s in self._by_episode.get(episode_id, {}).items()}

    def pop_episode(self, episode_id: str) -> dict[str, Usage]:
        """Like `episode`, and forgets it (call once its trace is written; run totals are kept)."""
        with self._lock:
            return {role: s.usage() for role, s in self._by_episode.pop(episode_id, {}).items()}

    def snapshot(self) -> UsageSnapshot:
        with self._lock:
            return UsageSnapshot(
                total=self._total.usage(),
                by_role={role: s.usage() for role, s in self._by_role.items()},
                by_model={model: s.usage() for model, s in self._by_model.items()},
                saved=self._saved.usage(),
                unpriced_models=sorted(self._unpriced),
            )


def _get(table: dict[str, _Sum], key: str) -> _Sum:
    entry = table.get(key)
    if entry is None:
        entry = table[key] = _Sum()
    return entry


class UsageTrackingModel(ModelWrapper):
    """Prices each response (when the provider did not) and records it under the request's role and
    episode. Sits outermost in the stack so it sees cache hits as well as real calls."""

    def __init__(self, inner: ChatModel, tracker: UsageTracker, prices: PriceTable | None = None) -> None:
        super().__init__(inner)
        self.tracker = tracker
        self.prices = prices or PriceTable()

    async def generate(self, request: ModelRequest) -> ModelResponse:
        try:
            response = await self.inner.generate(request)
        except ModelError as exc:
            self._record_failure(request, exc)
            raise
        usage = response.usage
        if usage.cost_usd is None:
            usage.cost_usd = self.prices.cost(self.name, usage)
        saved = response.saved_usage
        if saved is not None and saved.cost_usd is None:
            saved.cost_usd = self.prices.cost(self.name, saved)
        context = request.context
        # Both retry policies are recorded with the usage of the role and episode that paid for them.
        if response.call is not None and response.call.attempts > 1:
            usage.retries += response.call.attempts - 1
        if context.attempt > 1:
            usage.validation_retries += 1
        self.tracker.record(usage, role=context.role, episode_id=context.episode_id, model=self.name, saved=saved)
        return response

    def _record_failure(self, request: ModelRequest, error: ModelError) -> None:
        """A call that failed still made its requests (a failed run must not show 0 requests). Their
        tokens are unknown: an error reply carries no usage."""
        made = requests_made(error)
        if made == 0:
            return
        usage = Usage(requests=made, retries=made - 1, validation_retries=1 if request.context.attempt > 1 else 0)
        context = request.context
        self.tracker.record(usage, role=context.role, episode_id=context.episode_id, model=self.name)


def requests_made(error: ModelError) -> int:
    """How many requests went out before `error`: the retry policy's attempts; none when an open circuit
    breaker failed the call fast (the call that opened it carries the cause's attempts)."""
    if isinstance(error, CircuitOpenError) and error.attempts is None:
        cause = error.__cause__
        return (cause.attempts or 1) if isinstance(cause, ModelError) else 0
    return error.attempts if error.attempts is not None else 1

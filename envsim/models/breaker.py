"""Circuit breaker per endpoint: stop a run that keeps failing instead of hammering the endpoint.

Failures are counted *after* the retry policy gave up. Counted: retryable errors (server errors,
overload, timeouts that outlasted the retries), auth errors (open at once: retrying cannot help) and
404s (wrong model or URL). Not counted: other 4xx, which are about one request (say, a context that is
too long), not about the endpoint, and refused parameters (`RequestRefusedError`, even when a server
says so with a 500): the endpoint is fine, the request is not, and the run stops on its own. Once open,
the breaker stays open for the rest of the run; every call fails fast with a `CircuitOpenError` that
says which endpoint, why, and what to check.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from envsim.errors import CircuitOpenError, ModelAuthError, ModelError
from envsim.models.base import ChatModel, ModelRequest, ModelResponse, ModelWrapper
from envsim.models.limits import EndpointKey
from envsim.models.unreachable import UnreachableEndpointError


@dataclass(frozen=True)
class BreakerSettings:
    consecutive_failures: int = 5  # open after this many failures in a row
    window: int = 20  # ... or when `failure_ratio` of the last `window` calls failed
    failure_ratio: float = 0.5
    min_window_calls: int = 10  # the ratio rule needs at least this many calls


def counts_as_endpoint_failure(error: BaseException) -> bool:
    if not isinstance(error, ModelError) or isinstance(error, CircuitOpenError):
        return False
    return error.retryable or isinstance(error, ModelAuthError) or error.status == 404


class CircuitBreaker:
    def __init__(self, endpoint: str, settings: BreakerSettings | None = None) -> None:
        self.endpoint = endpoint
        self.settings = settings or BreakerSettings()
        self._recent: deque[bool] = deque(maxlen=self.settings.window)  # True = failed
        self.consecutive_failures = 0
        self.failures = 0
        self.last_error: ModelError | None = None
        self.open_error: CircuitOpenError | None = None
        self.ever_succeeded = False  # an endpoint that never answered is not coming back mid-run

    @property
    def is_open(self) -> bool:
        return self.open_error is not None

    def check(self) -> None:
        """Raise the breaker's `CircuitOpenError` when it is open."""
        opened = self.open_error
        if opened is not None:
            # A fresh instance per call: re-raising one shared exception from many tasks grows its traceback.
            error = CircuitOpenError(opened.message, status=opened.status, endpoint=opened.endpoint, hint=opened.hint)
            error.attempts = 0  # failed fast: no request was made
            raise error from opened.__cause__

    def record_success(self) -> None:
        self.ever_succeeded = True
        self.consecutive_failures = 0
        self._recent.append(False)

    def record_failure(self, error: ModelError) -> CircuitOpenError | None:
        """Count a failed call; returns the error to raise if this failure opened the breaker."""
        if self.open_error is not None:
            return self.open_error
        self.failures += 1
        self.consecutive_failures += 1
        self._recent.append(True)
        self.last_error = error
        reason = self._open_reason(error)
        if reason is None:
            return None
        self.open_error = _open_error(self.endpoint, reason, error)
        return self.open_error

    def _open_reason(self, error: ModelError) -> str | None:
        s = self.settings
        if isinstance(error, ModelAuthError):
            return "the endpoint refused the credentials"
        if isinstance(error, UnreachableEndpointError) and not self.ever_succeeded:
            return "nothing answers there (connection refused, unknown host or connect timeout)"
        if self.consecutive_failures >= s.consecutive_failures:
            return f"{self.consecutive_failures} consecutive calls failed"
        failed = sum(self._recent)
        if len(self._recent) >= s.min_window_calls and failed >= s.failure_ratio * len(self._recent):
            return f"{failed} of the last {len(self._recent)} calls failed"
        return None

    def reset(self) -> None:
        self._recent.clear()
        self.consecutive_failures = 0
        self.open_error = None


def _open_error(endpoint: str, reason: str, error: ModelError) -> CircuitOpenError:
    last = f"{type(error).__name__}" + (f" (HTTP {error.status})" if error.status else "") + f": {error.message}"
    if isinstance(error, UnreachableEndpointError):
        hint = (
            "check that the server is running and listening at that address (scheme, host, port and the /v1 "
            "path of base_url), and that no firewall or proxy is in the way; then resume the run"
        )
    elif isinstance(error, ModelAuthError):
        hint = (
            "check that the API key environment variable (OPENAI_API_KEY / ANTHROPIC_API_KEY, or the one named "
            "by `api_key_env`) holds a valid key for this endpoint, then resume the run"
        )
    else:
        hint = (
            "check that the server is up and reachable at that address, the model name is right, and your quota "
            "or rate limits are not exhausted (lower `remote_params.num_workers` if it is overloaded); "
            "then resume the run"
        )
    message = f"stopped calling model endpoint {endpoint}: {reason}. Last error: {last[:400]}"
    opened = CircuitOpenError(message, status=error.status, endpoint=endpoint, hint=hint)
    opened.__cause__ = error
    return opened


class BreakerRegistry:
    """One breaker per endpoint for the whole run."""

    def __init__(self, settings: BreakerSettings | None = None) -> None:
        self.settings = settings or BreakerSettings()
        self._breakers: dict[EndpointKey, CircuitBreaker] = {}

    def get(self, key: EndpointKey) -> CircuitBreaker:
        breaker = self._breakers.get(key)
        if breaker is None:
            breaker = self._breakers[key] = CircuitBreaker(str(key), self.settings)
        return breaker

    def open_breakers(self) -> list[CircuitBreaker]:
        return [b for b in self._breakers.values() if b.is_open]


class CircuitBreakerModel(ModelWrapper):
    """Fails fast while the endpoint's breaker is open; the call that opens it raises the
    `CircuitOpenError` (with the original error as its cause), so callers have one signal to stop on."""

    def __init__(self, inner: ChatModel, breaker: CircuitBreaker) -> None:
        super().__init__(inner)
        self.breaker = breaker

    async def generate(self, request: ModelRequest) -> ModelResponse:
        self.breaker.check()
        try:
            response = await self.inner.generate(request)
        except ModelError as exc:
            if counts_as_endpoint_failure(exc):
                opened = self.breaker.record_failure(exc)
                if opened is not None:
                    raise opened from exc
            raise
        self.breaker.record_success()
        return response

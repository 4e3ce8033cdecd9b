"""Errors a user can cause, each with a message that says what, where and how to fix it.

Tracebacks are for bugs; anything raised from here is printed by the CLI as a short paragraph.
"""

from __future__ import annotations

from envsim.redaction import redact_text


class EnvsimError(Exception):
    """Base class of every error envsim raises on purpose."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(self.render())

    def render(self) -> str:
        return redact_text(f"{self.message}\n  fix: {self.hint}" if self.hint else self.message)


class ConfigError(EnvsimError):
    """A config or catalog file is wrong. Carries the file and the path inside it."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        location: str | None = None,
        hint: str | None = None,
        line: int | None = None,
    ) -> None:
        self.file = file
        self.location = location
        self.line = line  # 1-based line in `file`, when known
        super().__init__(message, hint=hint)

    def render(self) -> str:
        line = str(self.line) if self.line is not None and self.file else None
        where = ":".join(p for p in (self.file, line, self.location) if p)
        head = f"{where}: {self.message}" if where else self.message
        return redact_text(f"{head}\n  fix: {self.hint}" if self.hint else head)


class ConfigErrors(EnvsimError):
    """Several config errors found in one pass (the loader reports all of them, not just the first)."""

    def __init__(self, errors: list[ConfigError]) -> None:
        self.errors = errors
        super().__init__("\n".join(e.render() for e in errors))


class DataError(EnvsimError):
    """An input data file (rows, documents, catalog, trace) cannot be read or is malformed."""


class ModelError(EnvsimError):
    """A model call failed after the retry policy gave up, or cannot be made at all."""

    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        endpoint: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.status = status
        self.retry_after = retry_after
        self.endpoint = endpoint
        self.attempts: int | None = None  # set by the retry policy when it gives up
        super().__init__(message, hint=hint)


class RetryableModelError(ModelError):
    """Transient: rate limit, overload, server error, dropped connection, timeout."""

    retryable = True


class RateLimitError(RetryableModelError):
    """HTTP 429 or provider overload (Anthropic 529); may carry Retry-After."""


class ModelAuthError(ModelError):
    """Credentials missing or refused. Stops the run at once: retrying cannot help."""


class CircuitOpenError(ModelError):
    """An endpoint failed persistently; the run stops instead of hammering it."""


class RequestRefusedError(ModelError):
    """The endpoint refused a request parameter or the request's shape (HTTP 400/422, or a 500 whose body
    names the parameter). Resending cannot help and the endpoint itself is fine: not retried, not counted
    by the circuit breaker; it stops the run, whose unfinished episodes stay resumable."""

    def __init__(self, message: str, *, param: str, **kwargs: object) -> None:
        self.param = param  # the refused request parameter, as the wire names it ("response_format")
        super().__init__(message, **kwargs)  # type: ignore[arg-type]


class OutputValidationError(EnvsimError):
    """A model reply could not be parsed into the expected shape within the validation budget."""

    def __init__(self, message: str, *, attempts: int = 0, last_reply: str | None = None) -> None:
        self.attempts = attempts
        self.last_reply = last_reply
        super().__init__(message)


class UnexpectedModelCall(EnvsimError):
    """A strict test double was called when it had no step left (or the wrong kind of step)."""


class RealModelRequestBlocked(EnvsimError):
    """Raised when a test tries to reach a real (non-loopback) model endpoint."""


class RunError(EnvsimError):
    """A run directory is unusable (changed config, corrupt files) or the run failed as a whole."""

"""HTTP failures of model endpoints, mapped to envsim errors the retry layer understands.

Shared by the providers so every endpoint classifies the same status the same way: 429 and 529 are
rate limits (with Retry-After), 408/409/5xx are transient, 401/403 are auth (never retried), other
4xx are the caller's fault. Messages name the endpoint, never the key.
"""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Iterable, Mapping
from types import ModuleType

from envsim.errors import ModelAuthError, ModelError, RateLimitError, RetryableModelError
from envsim.models.unreachable import is_unreachable, unreachable_error

# Key shapes providers echo back in error bodies ("Incorrect API key provided: sk-ab***yz").
_KEY_PATTERN = re.compile(r"\b(sk-[A-Za-z0-9_\-*]{6,}|sk-ant-[A-Za-z0-9_\-*]{6,})")


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait, from `retry-after-ms`, `retry-after` (seconds or an HTTP date); None if absent."""
    if not headers:
        return None
    lowered = {k.lower(): v for k, v in headers.items()}
    raw_ms = lowered.get("retry-after-ms")
    if raw_ms is not None:
        try:
            return max(0.0, float(raw_ms) / 1000.0)
        except ValueError:
            pass
    raw = lowered.get("retry-after")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        parsed = email.utils.parsedate_tz(raw)
        if parsed is None:
            return None
        return max(0.0, email.utils.mktime_tz(parsed) - time.time())


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """Remove known secrets and anything shaped like an API key."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return _KEY_PATTERN.sub("***", text)


def error_for_status(
    status: int,
    detail: str,
    *,
    endpoint: str,
    headers: Mapping[str, str] | None = None,
    api_key_env: str | None = None,
    secrets: Iterable[str | None] = (),
) -> ModelError:
    """The envsim error for an HTTP error reply from `endpoint`."""
    detail = redact(detail, secrets).strip()
    head = f"{endpoint} answered HTTP {status}" + (f": {detail}" if detail else "")
    if status in (429, 529):
        retry_after = parse_retry_after(headers)
        kind = "rate limited" if status == 429 else "overloaded"
        return RateLimitError(
            f"{head} ({kind})",
            status=status,
            retry_after=retry_after,
            endpoint=endpoint,
            hint="lower remote_params.num_workers or set requests_per_minute / tokens_per_minute",
        )
    if status in (401, 403):
        where = f"the {api_key_env} environment variable" if api_key_env else "the API key"
        return ModelAuthError(
            f"{head} (credentials refused)",
            status=status,
            endpoint=endpoint,
            hint=f"check {where}: it must hold a valid key with access to this model",
        )
    if status in (408, 409) or status >= 500:
        return RetryableModelError(head, status=status, endpoint=endpoint, retry_after=parse_retry_after(headers))
    hint = "check the model name and base_url" if status == 404 else "check the request parameters for this model"
    return ModelError(head, status=status, endpoint=endpoint, hint=hint)


def connection_error(
    endpoint: str, detail: str, *, timeout: bool = False, cause: BaseException | None = None
) -> RetryableModelError:
    if is_unreachable(cause):  # refused / unknown host / connect timeout: see envsim.models.unreachable
        return unreachable_error(endpoint, detail)
    what = "timed out" if timeout else "connection failed"
    return RetryableModelError(
        f"{endpoint}: {what} ({detail})",
        endpoint=endpoint,
        hint="check that the server is running and reachable" if not timeout else None,
    )


def malformed_reply_error(endpoint: str, detail: str) -> RetryableModelError:
    return RetryableModelError(f"{endpoint}: reply is not valid JSON ({detail})", endpoint=endpoint)


def missing_key_error(endpoint: str, api_key_env: str) -> ModelAuthError:
    return ModelAuthError(
        f"{endpoint}: no API key: the environment variable {api_key_env} is not set",
        endpoint=endpoint,
        hint=f"export {api_key_env}=<your key> (or name another variable with api_key_env)",
    )


def error_detail(body: object, fallback: str) -> str:
    """The human part of a provider error body (`{"error": {"message": ...}}` in both wire formats)."""
    if isinstance(body, Mapping):
        inner = body.get("error", body)
        if isinstance(inner, Mapping) and isinstance(inner.get("message"), str):
            return inner["message"]
        if isinstance(body.get("message"), str):
            return body["message"]  # type: ignore[return-value]
    if isinstance(body, str) and body.strip():
        return body.strip()[:300]
    return fallback


def sdk_error(
    exc: Exception, sdk: ModuleType, *, endpoint: str, api_key_env: str, secrets: Iterable[str | None]
) -> ModelError:
    """Map an exception of an official SDK (`openai` or `anthropic`: both share one exception
    hierarchy) to the envsim error the retry layer understands."""
    if isinstance(exc, sdk.APITimeoutError):
        return connection_error(endpoint, str(exc).split(".")[0], timeout=True, cause=exc)
    if isinstance(exc, sdk.APIConnectionError):
        cause = exc.__cause__ or exc.__context__
        return connection_error(endpoint, f"{type(cause).__name__}: {cause}" if cause else str(exc), cause=exc)
    if isinstance(exc, sdk.APIStatusError):
        return error_for_status(
            exc.status_code,
            error_detail(exc.body, exc.message),
            endpoint=endpoint,
            headers=exc.response.headers,
            api_key_env=api_key_env,
            secrets=secrets,
        )
    if isinstance(exc, sdk.APIResponseValidationError):
        return malformed_reply_error(endpoint, exc.message)
    return ModelError(f"{endpoint}: {redact(str(exc), secrets)}", endpoint=endpoint)

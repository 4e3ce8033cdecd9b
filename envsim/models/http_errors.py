"""HTTP failures of model endpoints, mapped to envsim errors the retry layer understands.

Shared by the providers so every endpoint classifies the same status the same way: 429 and 529 are
rate limits (with Retry-After), 408/409/5xx are transient, 401/403 are auth (never retried), other
4xx are the caller's fault. The body is read too, not just the status: a 400/422, or a 500 whose body
says a request parameter is unsupported or invalid, is a `RequestRefusedError` naming that parameter
(servers such as llama-cpp-python answer a refused parameter with a 500). Messages name the endpoint,
never the key.
"""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Iterable, Mapping
from types import ModuleType

from envsim.errors import ModelAuthError, ModelError, RateLimitError, RequestRefusedError, RetryableModelError
from envsim.models.unreachable import is_unreachable, unreachable_error

# Key shapes providers echo back in error bodies ("Incorrect API key provided: sk-ab***yz").
_KEY_PATTERN = re.compile(r"\b(sk-[A-Za-z0-9_\-*]{6,}|sk-ant-[A-Za-z0-9_\-*]{6,})")

# Request parameters a refusal may name, most specific first; `json_schema` is a `response_format` type.
_PARAMS: tuple[tuple[str, str], ...] = (
    ("json_schema", "response_format"),
    ("response_format", "response_format"),
    ("guided_json", "guided_json"),
    ("tool_choice", "tool_choice"),
    ("parallel_tool_calls", "parallel_tool_calls"),
    ("stream_options", "stream_options"),
    ("max_completion_tokens", "max_completion_tokens"),
    ("seed", "seed"),
    ("tools", "tools"),
    ("messages", "messages"),  # last: a message the server's request type or chat template cannot take
)
_PARAM_PATTERNS = [(re.compile(rf"(?<![A-Za-z0-9_]){word}(?![A-Za-z0-9_])"), param) for word, param in _PARAMS]
# Words of a refusal (validation libraries, OpenAI, vLLM, llama.cpp): a 5xx body must say one of these.
_REFUSAL = re.compile(
    r"unsupported|not supported|does not support|invalid|input should be|literal_error|extra_forbidden|"
    r"extra inputs|unrecognized|unknown|not allowed|not permitted|must be|expected|validation error",
    re.IGNORECASE,
)
# A chat template that reads a message key the request left out (jinja2 StrictUndefined).
_TEMPLATE_KEY = re.compile(r"'dict object' has no attribute '(\w+)'")
# About one request's size, not its shape: an ordinary client error.
_NOT_A_REFUSAL = re.compile(r"context length|context_length|maximum context|too many tokens", re.IGNORECASE)


def refused_parameter(status: int, detail: str, param: str | None = None) -> str | None:
    """The request parameter an error reply refuses, or None when it names none. `param` is the error
    body's own `param` field (OpenAI's shape), trusted for 400/422."""
    if status not in (400, 422) and status < 500:
        return None
    if _NOT_A_REFUSAL.search(detail):
        return None
    if status in (400, 422) and param:
        return param
    template = _TEMPLATE_KEY.search(detail)
    if template:
        return f"messages[].{template.group(1)}"
    if status >= 500 and not _REFUSAL.search(detail):
        return None
    for pattern, name in _PARAM_PATTERNS:
        if pattern.search(detail):
            return name
    return None


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
    param: str | None = None,
) -> ModelError:
    """The envsim error for an HTTP error reply from `endpoint` (`param`: the body's `param` field)."""
    detail = redact(detail, secrets).strip()
    head = f"{endpoint} answered HTTP {status}" + (f": {detail}" if detail else "")
    refused = refused_parameter(status, detail, param)
    if refused is not None:
        return RequestRefusedError(
            f"{head} (the endpoint refused the request parameter {refused})",
            param=refused,
            status=status,
            endpoint=endpoint,
            hint="see docs/servers.md for the model section keys (structured_output, features) that change it",
        )
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


class RequestTimeoutError(RetryableModelError):
    """No reply in time. Retried; the endpoint's limiter also shrinks its concurrency window, since a
    server that queues requests counts the wait in every reply's time."""


def connection_error(
    endpoint: str, detail: str, *, timeout: bool = False, cause: BaseException | None = None
) -> RetryableModelError:
    if is_unreachable(cause):  # refused / unknown host / connect timeout: see envsim.models.unreachable
        return unreachable_error(endpoint, detail)
    if timeout:
        return RequestTimeoutError(
            f"{endpoint}: timed out ({detail})",
            endpoint=endpoint,
            hint="a busy or single-slot server queues requests and the wait counts toward the timeout: raise "
            "remote_params.connection_timeout or lower remote_params.num_workers",
        )
    return RetryableModelError(
        f"{endpoint}: connection failed ({detail})",
        endpoint=endpoint,
        hint="check that the server is running and reachable",
    )


def malformed_reply_error(endpoint: str, detail: str) -> RetryableModelError:
    return RetryableModelError(f"{endpoint}: reply is not valid JSON ({detail})", endpoint=endpoint)


def missing_key_error(endpoint: str, api_key_env: str) -> ModelAuthError:
    return ModelAuthError(
        f"{endpoint}: no API key: the environment variable {api_key_env} is not set",
        endpoint=endpoint,
        hint=f"export {api_key_env}=<your key> (or name another variable with api_key_env)",
    )


def error_param(body: object) -> str | None:
    """The `param` an OpenAI-shaped error body names (`{"error": {"param": "response_format"}}`)."""
    inner = body.get("error", body) if isinstance(body, Mapping) else None
    value = inner.get("param") if isinstance(inner, Mapping) else None
    return value if isinstance(value, str) and value else None


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
            param=error_param(exc.body),
        )
    if isinstance(exc, sdk.APIResponseValidationError):
        return malformed_reply_error(endpoint, exc.message)
    return ModelError(f"{endpoint}: {redact(str(exc), secrets)}", endpoint=endpoint)

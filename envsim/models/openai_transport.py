"""How a Chat Completions body reaches an OpenAI-compatible endpoint: two transports, one interface.

`await transport.send(body) -> bytes` posts the JSON body and returns the reply's bytes, or raises the
envsim error for the failure (`envsim.models.http_errors`); `await transport.aclose()` closes it.

- `DirectTransport` ("direct", the default): aiohttp, with the URL and headers the official SDK computes
  for its client (auth, organization/project, user agent, platform headers), read once from the SDK
  client's public `base_url`, `default_headers` and `auth_headers`. Per request, it only posts bytes.
  The SDK's own request pipeline (options models, header merges, URL parsing, the httpx2 layer over
  aiohttp) costs about three times the client CPU per request, and on a busy machine that CPU is
  model calls/s lost: a run of 128 open episodes spent more CPU in it than in everything else.
- `SdkTransport` ("sdk"): every request through `AsyncOpenAI.post`, for when the SDK's exact behaviour
  matters more than throughput (e.g. to debug with the SDK's logging).

Both send the same body and the same headers; tests run the OpenAI provider over both.
"""

from __future__ import annotations

import functools
import json
import urllib.request
from dataclasses import dataclass
from typing import Any, Literal, Protocol, get_args
from urllib.parse import urlsplit

from envsim.models import request_guard
from envsim.models.http_errors import connection_error, error_detail, error_for_status, error_param, sdk_error
from envsim.models.tls import shared_ssl_context
from envsim.models.unreachable import CONNECT_TIMEOUT_S

Transport = Literal["direct", "sdk"]
TRANSPORTS: tuple[str, ...] = get_args(Transport)
CHAT_COMPLETIONS_PATH = "chat/completions"
MODELS_PATH = "models"
# What `chat.completions.create` passes: authenticate with the bearer API key.
_REQUEST_OPTIONS: dict[str, Any] = {"security": {"bearer_auth": True}}


class ChatTransport(Protocol):
    async def send(self, body: bytes) -> bytes: ...

    async def server_info(self, timeout: float) -> tuple[Any, dict[str, str]]:
        """`GET models`: its JSON and the response headers, to tell which server this is. Raises on
        any failure (the caller then assumes nothing)."""
        ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True, kw_only=True, repr=False)  # no repr: it holds the key
class Endpoint:
    """Where and how to reach one endpoint: what both transports need, plus the error context."""

    base_url: str
    api_key: str
    api_key_env: str
    name: str  # "openai:MODEL@URL", for messages; never holds the key
    timeout: float

    @property
    def uses_tls(self) -> bool:
        return self.base_url.lower().startswith("https:")

    def sdk_client(self, http_client: Any) -> Any:
        import httpx2
        import openai

        return openai.AsyncOpenAI(
            api_key=self.api_key,
            base_url=self.base_url,
            max_retries=0,  # retries, limits and backoff are envsim's (see envsim.models.retry)
            timeout=httpx2.Timeout(self.timeout, connect=CONNECT_TIMEOUT_S),
            http_client=http_client,
        )


class SdkTransport:
    """Each request through the SDK's `client.post` (auth, headers, HTTP error classes are the SDK's)."""

    def __init__(self, endpoint: Endpoint, max_connections: int) -> None:
        request_guard.ensure_model_requests_allowed(endpoint.base_url, endpoint.name)
        import httpx2
        import openai

        self._endpoint = endpoint
        limits = httpx2.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        http_client_class = aiohttp_transport() or openai.DefaultAsyncHttpxClient
        timeout = httpx2.Timeout(endpoint.timeout, connect=CONNECT_TIMEOUT_S)
        http_client = http_client_class(limits=limits, timeout=timeout, verify=shared_ssl_context())
        self._client = endpoint.sdk_client(http_client)

    async def send(self, body: bytes) -> bytes:
        """`client.post` (the SDK's documented call for a ready-made body) rather than
        `chat.completions.create`: `create` walks every message through the SDK's TypedDict transform
        and builds pydantic objects that would only be converted back to dicts."""
        import httpx2
        import openai

        try:
            response = await self._client.post(
                "/" + CHAT_COMPLETIONS_PATH, cast_to=httpx2.Response, content=body, options=_REQUEST_OPTIONS
            )
        except openai.OpenAIError as exc:
            e = self._endpoint
            raise sdk_error(exc, openai, endpoint=e.name, api_key_env=e.api_key_env, secrets=[e.api_key]) from None
        return response.content

    async def server_info(self, timeout: float) -> tuple[Any, dict[str, str]]:
        import httpx2

        response = await self._client.get(
            "/" + MODELS_PATH, cast_to=httpx2.Response, options={**_REQUEST_OPTIONS, "timeout": timeout}
        )
        return json.loads(response.content), dict(response.headers)

    async def aclose(self) -> None:
        await self._client.close()


class DirectTransport:
    """Posts over one aiohttp session (its own connection pool), with the SDK's URL and headers."""

    def __init__(self, endpoint: Endpoint, max_connections: int) -> None:
        request_guard.ensure_model_requests_allowed(endpoint.base_url, endpoint.name)
        import aiohttp

        self._endpoint = endpoint
        self.url, self.headers = sdk_request_target(endpoint)
        self._session = aiohttp.ClientSession(
            # A plain-HTTP endpoint (a local server) needs no TLS context; aiohttp's default one, for a
            # redirect to HTTPS, is built when aiohttp is imported.
            connector=aiohttp.TCPConnector(
                limit=max_connections, ssl=shared_ssl_context() if endpoint.uses_tls else True
            ),
            timeout=aiohttp.ClientTimeout(total=endpoint.timeout, sock_connect=CONNECT_TIMEOUT_S),
        )
        # HTTP(S)_PROXY / NO_PROXY as the SDK's clients honour them, looked up once: aiohttp's
        # `trust_env` reads the environment on every request (0.5 ms of CPU each).
        self.proxy = env_proxy(self.url)

    async def send(self, body: bytes) -> bytes:
        import aiohttp

        e = self._endpoint
        try:
            async with self._session.post(self.url, data=body, headers=self.headers, proxy=self.proxy) as response:
                content = await response.read()
                status, headers, reason = response.status, response.headers, response.reason or ""
        except TimeoutError as exc:
            raise connection_error(e.name, f"no reply within {e.timeout:g} s", timeout=True, cause=exc) from None
        except aiohttp.ClientError as exc:
            raise connection_error(e.name, f"{type(exc).__name__}: {exc}", cause=exc) from None
        if status >= 400:
            body = _json_or_text(content)
            raise error_for_status(
                status,
                error_detail(body, f"{status} {reason}".strip()),
                endpoint=e.name,
                headers=headers,
                api_key_env=e.api_key_env,
                secrets=[e.api_key],
                param=error_param(body),
            )
        return content

    async def server_info(self, timeout: float) -> tuple[Any, dict[str, str]]:
        import aiohttp

        url = self.url[: -len(CHAT_COMPLETIONS_PATH)] + MODELS_PATH
        async with self._session.get(
            url, headers=self.headers, proxy=self.proxy, timeout=aiohttp.ClientTimeout(total=timeout)
        ) as response:
            content = await response.read()
            headers = dict(response.headers)
            status = response.status
        if status >= 400:
            raise ValueError(f"GET {url} answered HTTP {status}")
        return json.loads(content), headers

    async def aclose(self) -> None:
        await self._session.close()


def sdk_request_target(endpoint: Endpoint) -> tuple[str, dict[str, str]]:
    """The URL and headers `AsyncOpenAI(...).post("/chat/completions")` would send to, as the SDK computes
    them (the per-request `x-stainless-retry-count` and read-timeout headers with the values it would
    give a first attempt)."""
    import httpx2

    # Only read from, never sends: a mock transport spares it a connection pool and a TLS context.
    client = endpoint.sdk_client(httpx2.AsyncClient(transport=httpx2.MockTransport(_never_sends), trust_env=False))
    headers = {
        name: value
        for name, value in {**client.default_headers, **client.auth_headers}.items()
        if isinstance(value, str)  # the SDK marks unset optional headers with an `Omit` object
    }
    headers["x-stainless-retry-count"] = "0"
    headers["x-stainless-read-timeout"] = str(float(endpoint.timeout))
    return str(client.base_url) + CHAT_COMPLETIONS_PATH, headers


def env_proxy(url: str) -> str | None:
    """The proxy the environment names for `url` (HTTP_PROXY / HTTPS_PROXY, unless NO_PROXY exempts it)."""
    parts = urlsplit(url)
    proxy = urllib.request.getproxies().get(parts.scheme)
    if not proxy or urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    return proxy


@functools.cache
def aiohttp_transport() -> Any:
    """The SDK's aiohttp-based HTTP client class (`openai.DefaultAioHttpClient`), or None when aiohttp
    (or an SDK that ships the transport) is not installed."""
    try:
        import aiohttp  # noqa: F401
        import openai
    except ImportError:
        return None
    return getattr(openai, "DefaultAioHttpClient", None)


def new_transport(kind: Transport, endpoint: Endpoint, max_connections: int) -> ChatTransport:
    if kind == "sdk":
        return SdkTransport(endpoint, max_connections)
    return DirectTransport(endpoint, max_connections)


def _never_sends(request: Any) -> Any:
    raise AssertionError("the SDK client that computes request headers never sends")


def _json_or_text(content: bytes) -> object:
    try:
        return json.loads(content)
    except ValueError:
        return content.decode("utf-8", "replace")

"""An endpoint that does not answer at all: connection refused, unknown host, or no TCP connection within
the connect timeout. Told apart from other connection errors because waiting cannot help much: such a
failure is retried a few times quickly (a server restarting), then the circuit breaker stops the run and
names the endpoint, instead of five retries with exponential backoff for every open conversation.
"""

from __future__ import annotations

from envsim.errors import RetryableModelError

# Connecting is fast when a server is there (local or remote); only reading waits for the model.
CONNECT_TIMEOUT_S = 5.0
UNREACHABLE_ATTEMPTS = 3  # the first try included
UNREACHABLE_RETRY_DELAY_S = 0.25  # times the attempt number

# Exception types (by name, to cover aiohttp, httpx and the SDKs' wrappers without importing them).
_UNREACHABLE_TYPES = {
    "ClientConnectorError",  # aiohttp: refused, unknown host, no route (ClientConnectorDNSError too)
    "ClientConnectorDNSError",
    "ConnectionTimeoutError",  # aiohttp: sock_connect timeout
    "ConnectError",  # httpx
    "ConnectTimeout",  # httpx
    "ConnectionRefusedError",
    "gaierror",
}


class UnreachableEndpointError(RetryableModelError):
    """Nothing answers at the endpoint (refused, unknown host, connect timeout)."""


def is_unreachable(error: BaseException | None) -> bool:
    """Whether `error` (or an exception it was raised from) says nothing answers at the address."""
    seen = 0
    while error is not None and seen < 8:
        if isinstance(error, ConnectionRefusedError) or any(
            cls.__name__ in _UNREACHABLE_TYPES for cls in type(error).__mro__
        ):
            return True
        error = error.__cause__ or error.__context__
        seen += 1
    return False


def unreachable_error(endpoint: str, detail: str) -> UnreachableEndpointError:
    return UnreachableEndpointError(
        f"{endpoint}: cannot connect ({detail})",
        endpoint=endpoint,
        hint="check that the server is running and that base_url (scheme, host, port, /v1 path) points at it",
    )

"""A small HTTP/1.1 server on an asyncio protocol: keep-alive, pipelining, Content-Length and chunked
request bodies.

Just enough HTTP for SDK clients talking JSON; the fake model server builds on it. Requests on one
connection are answered in order, one at a time. A protocol (bytes handed over by `data_received`)
rather than asyncio streams: the fake server shares the machine with the clients it measures, and the
streams' futures and wake-ups per read cost it about 7% more CPU per request.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

MAX_HEAD = 64 * 1024
MAX_BODY = 64 * 1024 * 1024

_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Payload Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
    529: "Overloaded",
}


@dataclass
class HttpRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: bytes
    received: float = 0.0  # the event loop's time when the whole request had arrived


@dataclass
class HttpResponse:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"

    def encode(self, keep_alive: bool) -> bytes:
        lines = [
            f"HTTP/1.1 {self.status} {_REASONS.get(self.status, 'Status')}",
            f"content-type: {self.content_type}",
            f"content-length: {len(self.body)}",
            "connection: keep-alive" if keep_alive else "connection: close",
        ]
        lines.extend(f"{k}: {v}" for k, v in self.headers.items())
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.body


class DropConnection(Exception):
    """Raised by a request handler to close the connection without answering (a dropped connection)."""


class BadRequest(ValueError):
    """The bytes on a connection are not a request this server can read; the connection is closed."""


RequestHandler = Callable[[HttpRequest], Awaitable[HttpResponse]]


class HttpServer:
    def __init__(self, handle: RequestHandler, host: str = "127.0.0.1", port: int = 0) -> None:
        self._handle = handle
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None
        self._connections: set[_Connection] = set()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Connection(self._handle, self._connections), self.host, self.port, backlog=2048
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        answering = [task for conn in list(self._connections) if (task := conn.abort()) is not None]
        if answering:
            await asyncio.gather(*answering, return_exceptions=True)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._server.wait_closed(), timeout=2.0)
        self._server = None


class _Connection(asyncio.Protocol):
    """One client connection: gathers bytes into requests and answers them in order."""

    def __init__(self, handle: RequestHandler, registry: set[_Connection]) -> None:
        self._handle = handle
        self._registry = registry
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None
        self._answering: asyncio.Task[None] | None = None  # at most one request at a time
        self._closing = False
        self._eof = False  # the client has sent all it will send

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        self._registry.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        self._registry.discard(self)
        if self._answering is not None:
            self._answering.cancel()  # nobody is left to read the answer

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if self._answering is None:
            self._next()

    def eof_received(self) -> bool:
        # A half-closed client still gets the answers to what it sent; then the connection closes.
        self._eof = True
        return self._answering is not None

    def abort(self) -> asyncio.Task[None] | None:
        """Close at once (server stop); returns the task still answering, if any, after cancelling it."""
        self._closing = True
        if self._transport is not None:
            self._transport.abort()
        task = self._answering
        if task is not None:
            task.cancel()
        return task

    def _next(self) -> None:
        """Start answering the next complete request in the buffer, if there is one."""
        if self._closing or self._transport is None:
            return
        try:
            request = take_request(self._buffer)
        except BadRequest:
            self._closing = True
            self._transport.close()
            return
        if request is None:
            if self._eof:
                self._closing = True
                self._transport.close()
            return
        request.received = asyncio.get_running_loop().time()
        self._answering = asyncio.get_running_loop().create_task(self._answer(request))

    async def _answer(self, request: HttpRequest) -> None:
        transport = self._transport
        assert transport is not None
        try:
            response = await self._handle(request)
        except DropConnection:
            self._closing = True
            transport.abort()
            return
        except asyncio.CancelledError:
            return  # the connection is gone (or the server stopping): nothing to answer
        finally:
            self._answering = None
        if self._closing:
            return
        keep_alive = request.headers.get("connection", "").lower() != "close"
        transport.write(response.encode(keep_alive))
        if not keep_alive:
            self._closing = True
            transport.close()
            return
        self._next()


def take_request(buffer: bytearray) -> HttpRequest | None:
    """Remove one complete request from the front of `buffer` and return it; None (buffer untouched)
    while more bytes are needed. Raises BadRequest on bytes that cannot become a request."""
    head_end = buffer.find(b"\r\n\r\n")
    if head_end < 0:
        if len(buffer) > MAX_HEAD:
            raise BadRequest("request head too large")
        return None
    try:
        lines = bytes(buffer[:head_end]).decode("latin-1").split("\r\n")
        method, target, _version = lines[0].split(" ", 2)
    except ValueError:
        raise BadRequest(f"bad request line {bytes(buffer[:80])!r}") from None
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    start = head_end + 4
    if headers.get("transfer-encoding", "").lower() == "chunked":
        taken = _take_chunked(buffer, start)
        if taken is None:
            return None
        body, end = taken
    else:
        try:
            length = int(headers.get("content-length", "0") or 0)
        except ValueError:
            raise BadRequest("bad content-length") from None
        if length < 0 or length > MAX_BODY:
            raise BadRequest("request body too large")
        end = start + length
        if len(buffer) < end:
            return None
        body = bytes(buffer[start:end])
    del buffer[:end]
    return HttpRequest(method=method.upper(), path=target.split("?", 1)[0], headers=headers, body=body)


def _take_chunked(buffer: bytearray, pos: int) -> tuple[bytes, int] | None:
    """A chunked body starting at `pos`: (body, end of the message), or None while incomplete."""
    parts: list[bytes] = []
    total = 0
    while True:
        line_end = buffer.find(b"\r\n", pos)
        if line_end < 0:
            return None
        try:
            size = int(bytes(buffer[pos:line_end]).split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise BadRequest("bad chunk size") from None
        pos = line_end + 2
        if size == 0:
            # Trailer fields, if any, end with a blank line.
            trailer_end = buffer.find(b"\r\n", pos)
            while trailer_end > pos:  # a non-empty trailer line: skip it
                pos = trailer_end + 2
                trailer_end = buffer.find(b"\r\n", pos)
            if trailer_end < 0:
                return None
            return b"".join(parts), trailer_end + 2
        total += size
        if total > MAX_BODY:
            raise BadRequest("request body too large")
        if len(buffer) < pos + size + 2:
            return None
        parts.append(bytes(buffer[pos : pos + size]))
        pos += size + 2

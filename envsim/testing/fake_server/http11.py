"""A small HTTP/1.1 server on asyncio streams: keep-alive, Content-Length and chunked request bodies.

Just enough HTTP for SDK clients (httpx) talking JSON; the fake model server builds on it. Each
connection is one task; requests on a connection are served in order.
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


RequestHandler = Callable[[HttpRequest], Awaitable[HttpResponse]]


class HttpServer:
    def __init__(self, handle: RequestHandler, host: str = "127.0.0.1", port: int = 0) -> None:
        self._handle = handle
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port, backlog=2048, limit=MAX_HEAD)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.gather(*self._connections, return_exceptions=True)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._server.wait_closed(), timeout=2.0)
        self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    return
                try:
                    response = await self._handle(request)
                except DropConnection:
                    writer.transport.abort()
                    return
                keep_alive = request.headers.get("connection", "").lower() != "close"
                writer.write(response.encode(keep_alive))
                await writer.drain()
                if not keep_alive:
                    return
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError):
            return
        except asyncio.CancelledError:
            # Only stop() cancels connection tasks. Ending quietly (not re-raising) keeps asyncio's
            # stream callback from logging the cancellation as an error.
            writer.transport.abort()
        finally:
            self._connections.discard(task)
            with contextlib.suppress(Exception):
                writer.close()


async def _read_request(reader: asyncio.StreamReader) -> HttpRequest | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise
        return None  # the client closed an idle keep-alive connection
    lines = head[:-4].decode("latin-1").split("\r\n")
    method, target, _version = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = await _read_chunked(reader)
    else:
        length = int(headers.get("content-length", "0") or 0)
        if length > MAX_BODY:
            raise ValueError("request body too large")
        body = await reader.readexactly(length) if length else b""
    return HttpRequest(method=method.upper(), path=target.split("?", 1)[0], headers=headers, body=body)


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    total = 0
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            await reader.readuntil(b"\r\n")  # the (empty) trailer section ends with a blank line
            return b"".join(parts)
        total += size
        if total > MAX_BODY:
            raise ValueError("request body too large")
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)

"""The fake server's HTTP/1.1 layer, spoken to over raw sockets: framing the SDKs rarely exercise."""

from __future__ import annotations

import asyncio

from envsim.testing.fake_server.http11 import HttpRequest, HttpResponse, HttpServer


async def _echo(request: HttpRequest) -> HttpResponse:
    await asyncio.sleep(0.01 if request.body == b"slow" else 0)
    return HttpResponse(200, request.method.encode() + b" " + request.path.encode() + b" " + request.body)


async def _exchange(port: int, data: bytes, *, half_close: bool = False) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    if half_close:
        writer.write_eof()
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(), timeout=30)  # until the server closes
    finally:
        writer.close()


def _post(body: bytes, *, close: bool = False) -> bytes:
    connection = b"connection: close\r\n" if close else b""
    return b"POST /x HTTP/1.1\r\nhost: t\r\n" + connection + b"content-length: %d\r\n\r\n" % len(body) + body


async def test_pipelined_requests_are_answered_in_order_then_the_connection_closes() -> None:
    server = HttpServer(_echo)
    await server.start()
    try:
        # The first answer takes longest: answers must still come in request order.
        reply = await _exchange(server.port, _post(b"slow") + _post(b"two") + _post(b"three", close=True))
    finally:
        await server.stop()
    assert reply.count(b"HTTP/1.1 200 OK") == 3
    assert reply.index(b"POST /x slow") < reply.index(b"POST /x two") < reply.index(b"POST /x three")
    assert b"connection: close" in reply


async def test_chunked_body_split_across_writes_and_half_close() -> None:
    server = HttpServer(_echo)
    await server.start()
    try:
        head = b"POST /c?q=1 HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n"
        reply = await _exchange(server.port, head + b"4\r\nwiki\r\n5;ext=1\r\npedia\r\n0\r\n\r\n", half_close=True)
    finally:
        await server.stop()
    assert reply.startswith(b"HTTP/1.1 200 OK") and reply.endswith(b"POST /c wikipedia")


async def test_garbage_closes_the_connection_without_an_answer() -> None:
    server = HttpServer(_echo)
    await server.start()
    try:
        assert await _exchange(server.port, b"NONSENSE\r\n\r\n") == b""
        assert await _exchange(server.port, b"POST /x HTTP/1.1\r\ncontent-length: x\r\n\r\n") == b""
        # The server still serves well-formed requests afterwards.
        assert (await _exchange(server.port, _post(b"ok", close=True))).endswith(b"POST /x ok")
    finally:
        await server.stop()


async def test_stop_ends_a_request_that_is_still_being_answered() -> None:
    started = asyncio.Event()

    async def hang(request: HttpRequest) -> HttpResponse:
        started.set()
        await asyncio.sleep(60)
        return HttpResponse(200)

    server = HttpServer(hang)
    await server.start()
    exchange = asyncio.create_task(_exchange(server.port, _post(b"x")))
    await asyncio.wait_for(started.wait(), timeout=30)
    await asyncio.wait_for(server.stop(), timeout=30)
    assert await exchange == b""

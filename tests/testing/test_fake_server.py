"""The fake model server as users and tests rely on it: routes, auth, handlers, faults, latency, log, modes."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time

import httpx2
import pytest

from envsim.errors import RetryableModelError
from envsim.messages import Message
from envsim.models.base import ModelRequest
from envsim.models.openai_provider import OpenAIChatModel
from envsim.testing.fake_server import FakeModelServer, FaultPlan

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hello"}]}
ANTHROPIC = {"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "hello"}]}
AUTH = {"authorization": "Bearer k"}


def test_threaded_server_speaks_both_formats() -> None:
    with FakeModelServer(lambda req: "pong") as server, httpx2.Client() as client:
        openai_reply = client.post(f"{server.openai_base_url}/chat/completions", json=CHAT, headers=AUTH).json()
        short_path = client.post(f"{server.url}/chat/completions", json=CHAT, headers=AUTH)
        headers = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
        anthropic_reply = client.post(
            f"{server.anthropic_base_url}/v1/messages", json=ANTHROPIC, headers=headers
        ).json()
    assert openai_reply["choices"][0]["message"]["content"] == "pong"
    assert short_path.status_code == 200
    assert anthropic_reply["content"] == [{"type": "text", "text": "pong"}]
    assert anthropic_reply["stop_reason"] == "end_turn"
    assert [e.api for e in server.log] == ["openai", "openai", "anthropic"]
    assert all(e.status == 200 and e.duration >= 0 for e in server.log)
    assert server.requests[0].messages == [Message.user("hello")]


def test_auth_and_bad_requests_use_provider_error_shapes() -> None:
    with FakeModelServer(api_key="right") as server, httpx2.Client() as client:
        missing = client.post(f"{server.openai_base_url}/chat/completions", json=CHAT)
        wrong = client.post(f"{server.url}/v1/messages", json=ANTHROPIC, headers={"x-api-key": "wrong"})
        ok = client.post(
            f"{server.openai_base_url}/chat/completions", json=CHAT, headers={"authorization": "Bearer right"}
        )
        right = {"authorization": "Bearer right"}
        bad = client.post(f"{server.openai_base_url}/chat/completions", content=b"{not json", headers=right)
        unknown = client.post(f"{server.url}/v1/embeddings", json={}, headers=right)
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "invalid_api_key"
    assert wrong.status_code == 401 and wrong.json()["error"]["type"] == "authentication_error"
    assert ok.status_code == 200
    assert bad.status_code == 400 and bad.json()["error"]["type"] == "invalid_request_error"
    assert unknown.status_code == 404


def test_scripted_replies_and_handler_errors() -> None:
    with FakeModelServer(["first", "second"]) as server, httpx2.Client() as client:
        texts = [
            client.post(f"{server.openai_base_url}/chat/completions", json=CHAT, headers=AUTH).json() for _ in range(3)
        ]
    assert [t["choices"][0]["message"]["content"] for t in texts[:2]] == ["first", "second"]
    # The script ran out: the handler's error comes back as a 500 that says why.
    assert "unexpected call" in texts[2]["error"]["message"]
    assert server.log[2].status == 500 and server.log[2].error


def test_fault_schedule_and_rates() -> None:
    plan = FaultPlan(schedule={1: "server_error"}, rates={"rate_limit": 0.5}, seed=1, retry_after=0.25)
    statuses = []
    with FakeModelServer(faults=plan) as server, httpx2.Client() as client:
        for _ in range(40):
            r = client.post(f"{server.openai_base_url}/chat/completions", json=CHAT, headers=AUTH)
            statuses.append((r.status_code, r.headers.get("retry-after")))
    assert statuses[1] == (500, None)
    limited = [s for s in statuses if s[0] == 429]
    assert 8 <= len(limited) <= 32 and all(s[1] == "0.25" for s in limited)
    assert [e.fault for e in server.log][1] == "server_error"


def test_unknown_fault_kind_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        FaultPlan(rates={"explode": 0.1})


async def test_latency_is_injected_and_requests_run_concurrently() -> None:
    latency, calls = 0.5, 20
    async with FakeModelServer(latency=latency) as server:
        model = OpenAIChatModel("m", base_url=server.openai_base_url, api_key="k")
        request = ModelRequest(messages=[Message.user("hi")])
        await model.generate(request)  # warm-up: the client's lazy imports take seconds on a loaded machine
        start = time.perf_counter()
        await asyncio.gather(*(model.generate(request) for _ in range(calls)))
        elapsed = time.perf_counter() - start
        await model.aclose()
    # Queued calls would take calls * latency (10 s); overlapping ones about one latency. The bound sits
    # halfway, so a loaded machine's overhead (seconds, on CI) cannot fail it but queueing still does.
    assert latency <= elapsed < calls * latency / 2


async def test_callable_latency_and_async_handler() -> None:
    async def handler(request: ModelRequest) -> str:
        await asyncio.sleep(0)
        return "async ok"

    delays = iter([0.0, 0.15])
    async with FakeModelServer(handler, latency=lambda: next(delays)) as server:
        model = OpenAIChatModel("m", base_url=server.openai_base_url, api_key="k")
        fast = await model.generate(ModelRequest(messages=[Message.user("a")]))
        start = time.perf_counter()
        await model.generate(ModelRequest(messages=[Message.user("b")]))
        assert time.perf_counter() - start >= 0.15
        await model.aclose()
    assert fast.text == "async ok"


async def test_connection_drop_then_recovery_on_the_same_client() -> None:
    async with FakeModelServer() as server:
        server.faults.inject("drop")
        model = OpenAIChatModel("m", base_url=server.openai_base_url, api_key="k")
        with pytest.raises(RetryableModelError):
            await model.generate(ModelRequest(messages=[Message.user("a")]))
        assert (await model.generate(ModelRequest(messages=[Message.user("b")]))).text
        await model.aclose()
    assert [e.status for e in server.log] == [0, 200]


async def test_many_concurrent_keep_alive_connections() -> None:
    async with FakeModelServer(lambda req: "ok") as server:
        limits = httpx2.Limits(max_connections=200, max_keepalive_connections=200)
        # A generous timeout: on a loaded machine 600 requests can wait longer than httpx's 5 s for the pool.
        async with httpx2.AsyncClient(limits=limits, timeout=httpx2.Timeout(60.0)) as client:
            url = f"{server.openai_base_url}/chat/completions"
            replies = await asyncio.gather(*(client.post(url, json=CHAT, headers=AUTH) for _ in range(600)))
    assert all(r.status_code == 200 for r in replies)
    assert len(server.log) == 600


def test_separate_process_mode() -> None:
    with FakeModelServer.start_process(latency=0.0, api_key="k") as proc:
        assert proc.url.startswith("http://127.0.0.1:")
        reply = httpx2.post(f"{proc.openai_base_url}/chat/completions", json=CHAT, headers=AUTH)
        assert reply.status_code == 200 and reply.json()["choices"][0]["message"]["content"]
    assert proc.process.poll() is not None  # stopped


def test_module_entry_point_reports_bad_arguments() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "envsim.testing.fake_server", "--fault", "explode=2"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1 and "bad fault spec" in result.stderr


async def _raw_keep_alive_client(url: str, connections: int, per_connection: int) -> float:
    """Requests/s with a minimal HTTP/1.1 client (httpx itself tops out far below the server)."""
    host, port = url.removeprefix("http://").split(":")
    body = json.dumps(CHAT).encode()
    head = (
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer k\r\n"
        f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
    )
    request = head.encode() + body

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        for _ in range(per_connection):
            writer.write(request)
            await writer.drain()
            reply_head = await reader.readuntil(b"\r\n\r\n")
            assert reply_head.startswith(b"HTTP/1.1 200")
            length = next(
                int(v)
                for k, _, v in (h.partition(b":") for h in reply_head.split(b"\r\n"))
                if k.lower() == b"content-length"
            )
            await reader.readexactly(length)
        writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(connections)))
    return connections * per_connection / (time.perf_counter() - start)


@pytest.mark.slow
def test_throughput_over_1000_requests_per_second() -> None:
    """Benchmark-style: a separate server process sustains > 1,000 req/s over 200 keep-alive connections."""
    with FakeModelServer.start_process() as proc:
        rate = asyncio.run(_raw_keep_alive_client(proc.url, connections=200, per_connection=25))
    assert rate > 1000, f"{rate:.0f} req/s"


ORPHAN_PARENT = """import os, signal
from envsim.testing.fake_server import FakeModelServer
server = FakeModelServer.start_process()
print(server.process.pid, flush=True)
os.kill(os.getpid(), signal.SIGKILL)  # no cleanup runs: as when a benchmark is killed
"""


def test_a_server_process_ends_when_its_parent_is_killed() -> None:
    parent = subprocess.run([sys.executable, "-c", ORPHAN_PARENT], capture_output=True, text=True, timeout=60)
    server_pid = int(parent.stdout.split()[0])
    deadline = time.monotonic() + 30
    while _running(server_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(server_pid), "the fake server outlived the process that started it"


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped by init) is not running
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return True

"""`envsim serve` over real HTTP on 127.0.0.1: auth, job lifecycle, cancel, streamed data, restart."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from envsim.errors import EnvsimError
from envsim.pairs.http_service import PairsHttpServer, check_auth_settings
from envsim.pairs.jobs import PairsJobService, read_job
from envsim.pairs.types import Example, JobState, JobStatus
from tests.pairs.conftest import SUPPORT_PROMPT, models

KEY = "test-key-0123456789"
PATH = "/data/generate_input_response_pairs"


def _body(seeds: list[Example], n: int, **fields: Any) -> dict[str, Any]:
    return {"seeds": [s.model_dump() for s in seeds], "num_pairs_to_generate": n, **fields}


class Client:
    def __init__(self, session: aiohttp.ClientSession, url: str, key: str | None = KEY) -> None:
        self.session = session
        self.url = url
        self.headers = {"x-api-key": key} if key else {}

    async def call(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        async with self.session.request(method, self.url + path, headers=self.headers, **kwargs) as response:
            return response.status, await response.json()

    async def status(self, job_id: str) -> JobStatus:
        code, body = await self.call("GET", f"{PATH}/{job_id}")
        assert code == 200, body
        return JobStatus.model_validate(body)

    async def until(self, job_id: str, done: Any, timeout: float = 20.0) -> JobStatus:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            status = await self.status(job_id)
            if done(status):
                return status
            assert asyncio.get_running_loop().time() < deadline, f"timed out; last status {status}"
            await asyncio.sleep(0.05)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def _server(jobs: Path, delay: float = 0.0, api_key: str | None = KEY) -> PairsHttpServer:
    server = PairsHttpServer(PairsJobService(jobs, models(delay)), api_key=api_key)
    await server.start()
    return server


def test_unsafe_setups_are_refused_before_binding() -> None:
    with pytest.raises(EnvsimError, match="no API key configured") as caught:
        check_auth_settings("127.0.0.1", None, no_auth=False)
    assert caught.value.hint and "ENVSIM_SERVE_API_KEY" in caught.value.hint
    with pytest.raises(EnvsimError, match="only allowed on a loopback"):
        check_auth_settings("0.0.0.0", None, no_auth=True)
    with pytest.raises(EnvsimError, match="--no-auth was given"):
        check_auth_settings("127.0.0.1", KEY, no_auth=True)
    check_auth_settings("127.0.0.1", None, no_auth=True)
    check_auth_settings("::1", None, no_auth=True)
    check_auth_settings("0.0.0.0", KEY, no_auth=False)


async def test_requests_without_the_right_key_are_refused(
    tmp_path: Path, session: aiohttp.ClientSession, seeds: list[Example]
) -> None:
    server = await _server(tmp_path / "jobs")
    try:
        for key in (None, "wrong-key"):
            code, body = await Client(session, server.url, key).call("POST", PATH, json=_body(seeds, 3))
            assert code == 401 and "x-api-key" in body["detail"]
            code, _ = await Client(session, server.url, key).call("GET", PATH)
            assert code == 401
        assert not (tmp_path / "jobs").exists() or not list((tmp_path / "jobs").iterdir())  # nothing started
        code, document = await Client(session, server.url, None).call("GET", "/openapi.json")
        assert code == 200 and document["openapi"].startswith("3.")
        assert set(document["paths"]) >= {PATH, PATH + "/{job_id}", PATH + "/{job_id}/data"}
        assert document["components"]["securitySchemes"]["ApiKey"]["name"] == "x-api-key"
        assert "seeds" in document["components"]["schemas"]["PairsRequest"]["properties"]
    finally:
        await server.stop()


async def test_job_lifecycle_start_status_list_and_errors(
    tmp_path: Path, session: aiohttp.ClientSession, seeds: list[Example]
) -> None:
    server = await _server(tmp_path / "jobs")
    client = Client(session, server.url)
    try:
        code, body = await client.call("POST", PATH, json=_body(seeds, 6, system_prompt=SUPPORT_PROMPT))
        assert code == 200 and body["state"] in ("QUEUED", "RUNNING") and body["job_id"]
        job_id = body["job_id"]
        done = await client.until(job_id, lambda s: s.state.terminal)
        assert done.state is JobState.DONE and len(done.data or []) == 6
        assert done.diversity is not None and done.diversity.pairs == 6
        assert any("done: 6 pairs" in line for line in done.detailed_status)

        code, listed = await client.call("GET", PATH, params={"state": "DONE"})
        assert code == 200 and [j["job_id"] for j in listed] == [job_id] and listed[0]["data"] is None
        code, listed = await client.call("GET", PATH, params={"state": "RUNNING"})
        assert code == 200 and listed == []

        code, body = await client.call("GET", f"{PATH}/pairs-000000000000")
        assert code == 404
        code, body = await client.call("GET", f"{PATH}/..%2F..%2Fetc")
        assert code == 404
        code, body = await client.call("POST", PATH, json={"seeds": [], "num_pairs_to_generate": 0})
        assert code == 422 and {tuple(p["loc"]) for p in body["detail"]} == {("seeds",), ("num_pairs_to_generate",)}
        code, body = await client.call("POST", PATH, json=_body(seeds, 2, batch_size=11))
        assert code == 422
    finally:
        await server.stop()


async def test_cancel_stops_a_running_job_and_keeps_its_pairs(
    tmp_path: Path, session: aiohttp.ClientSession, seeds: list[Example]
) -> None:
    server = await _server(tmp_path / "jobs", delay=0.15)
    client = Client(session, server.url)
    try:
        _, body = await client.call("POST", PATH, json=_body(seeds, 40))
        job_id = body["job_id"]
        partial = await client.until(job_id, lambda s: len(s.data or []) >= 5)
        assert partial.state is JobState.RUNNING  # data is present while the job runs
        code, message = await client.call("DELETE", f"{PATH}/{job_id}")
        assert code == 200 and "CANCELLED" in message
        cancelled = await client.status(job_id)
        assert cancelled.state is JobState.CANCELLED and 5 <= len(cancelled.data or []) < 40
        assert cancelled.data is not None and cancelled.data[:5] == partial.data[:5]  # type: ignore[index]
    finally:
        await server.stop()


async def test_data_and_messages_stream_while_the_job_runs(
    tmp_path: Path, session: aiohttp.ClientSession, seeds: list[Example]
) -> None:
    server = await _server(tmp_path / "jobs", delay=0.2)
    client = Client(session, server.url)
    try:
        _, body = await client.call("POST", PATH, json=_body(seeds, 15))
        job_id = body["job_id"]
        url = f"{server.url}{PATH}/{job_id}/data"
        async with session.get(url, headers=client.headers) as response:
            assert response.status == 200 and response.headers["Content-Type"].startswith("application/json")
            first = await response.content.readany()  # arrives before the job has finished
            assert first.startswith(b"[")
            assert not (await client.status(job_id)).state.terminal
            rest = await response.read()
        streamed = [Example.model_validate(p) for p in json.loads(first + rest)]
        final = await client.status(job_id)
        assert final.state is JobState.DONE and streamed == final.data and len(streamed) == 15

        async with session.get(f"{server.url}{PATH}/{job_id}/messages", headers=client.headers) as response:
            assert response.headers["Content-Type"].startswith("text/plain")
            lines = (await response.text()).splitlines()
        assert lines[0] == "started: 15 pairs" and lines[-1].startswith("done: 15 pairs")
    finally:
        await server.stop()


async def test_jobs_survive_a_server_restart(
    tmp_path: Path, session: aiohttp.ClientSession, seeds: list[Example]
) -> None:
    jobs = tmp_path / "jobs"
    first = await _server(jobs, delay=0.15)
    client = Client(session, first.url)
    _, body = await client.call("POST", PATH, json=_body(seeds, 20))
    job_id = body["job_id"]
    before = await client.until(job_id, lambda s: len(s.data or []) >= 5)
    await first.stop()  # the process goes away mid-job
    on_disk = read_job(jobs / job_id)
    assert on_disk.state is JobState.QUEUED and "resumes when the service restarts" in on_disk.detailed_status[-1]

    second = await _server(jobs)
    try:
        assert second.resumed == [job_id]
        client = Client(session, second.url)
        done = await client.until(job_id, lambda s: s.state.terminal)
        assert done.state is JobState.DONE and done.data is not None and len(done.data) == 20
        assert done.data[:5] == (before.data or [])[:5]
        assert len({p.llm_input for p in done.data}) == 20  # resumed, not redone: no repeats
        assert any(line.startswith("resumed with") for line in done.detailed_status)
    finally:
        await second.stop()


async def test_without_auth_on_loopback_no_key_is_needed(
    tmp_path: Path, session: aiohttp.ClientSession, seeds: list[Example]
) -> None:
    server = await _server(tmp_path / "jobs", api_key=None)
    try:
        code, body = await Client(session, server.url, None).call("POST", PATH, json=_body(seeds, 2))
        assert code == 200
        code, _ = await Client(session, server.url, None).call("GET", f"{PATH}/{body['job_id']}")
        assert code == 200
    finally:
        await server.stop()

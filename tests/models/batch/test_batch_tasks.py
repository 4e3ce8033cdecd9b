"""Batch tasks against the fake server's OpenAI Batch and Anthropic Message Batches APIs, through the
official SDKs: partitioning, request order, partial failures and expiry with resubmission, cancel,
cleaning only our own files, and the same replies as online calls."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from envsim.messages import Message
from envsim.models.anthropic_provider import AnthropicChatModel
from envsim.models.base import ModelRequest
from envsim.models.batch import BackendSpec, BatchTask
from envsim.models.openai_provider import OpenAIChatModel
from envsim.testing import FakeModelServer
from envsim.testing.fake_server.faults import FaultPlan

POLL = 0.02


@pytest.fixture(autouse=True)
def _keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-batch")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-batch")


def _spec(provider: str, server: FakeModelServer) -> BackendSpec:
    url = server.openai_base_url if provider == "openai" else server.anthropic_base_url
    return BackendSpec(provider=provider, model="fake-model", base_url=url)  # type: ignore[arg-type]


def _requests(n: int) -> list[ModelRequest]:
    return [ModelRequest(messages=[Message.user(f"question number {i}")]) for i in range(n)]


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_partitions_by_count_and_merges_in_request_order(tmp_path: Path, provider: str) -> None:
    async with FakeModelServer(batch_delay=0.05) as server:
        task = BatchTask.create(tmp_path, "order", _spec(provider, server), batch_size=2)
        ids = task.add_many((r, None) for r in _requests(5))
        status = await task.run(poll_interval_s=POLL)
        results = list(task.results())
        await task.aclose()

    assert [len(p.rows) for p in status.parts] == [2, 2, 1]  # 5 requests, at most 2 per batch
    assert [r.custom_id for r in results] == ids
    assert all(r.ok for r in results)
    lines = [json.loads(line) for line in (tmp_path / "order" / "results.jsonl").read_text().splitlines()]
    assert [line["custom_id"] for line in lines] == ids
    assert status.counts() == {"requests": 5, "succeeded": 5, "failed": 0, "pending": 0, "running": 0}


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_a_batch_reply_is_the_reply_an_online_call_gets(tmp_path: Path, provider: str) -> None:
    request = ModelRequest(messages=[Message.user("what is my order status?")])
    async with FakeModelServer(batch_delay=0.02) as server:
        online_model = (
            OpenAIChatModel("fake-model", base_url=server.openai_base_url)
            if provider == "openai"
            else AnthropicChatModel("fake-model", base_url=server.anthropic_base_url)
        )
        online = await online_model.generate(request)
        await online_model.aclose()
        task = BatchTask.create(tmp_path, "same", _spec(provider, server))
        task.add(request, "only")
        await task.run(poll_interval_s=POLL)
        (result,) = list(task.results())
        batched = task.backend.parse(result.body or {}, request)
        await task.aclose()
    assert batched.message == online.message
    assert batched.usage.input_tokens == online.usage.input_tokens


def test_size_limit_partitions_by_bytes(tmp_path: Path) -> None:
    with FakeModelServer() as server:
        task = BatchTask.create(tmp_path, "bytes", _spec("openai", server), max_bytes=600)
        task.add_many((r, None) for r in _requests(6))
        parts = task._plan_parts()
    sizes = [sum(task.backend.line_bytes(c, {}) for c in p.rows) for p in parts]
    assert len(parts) > 1
    assert all(size <= 600 for size in sizes)
    assert sorted(c for p in parts for c in p.rows) == sorted(task.status.rows)


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_failed_rows_are_resubmitted_until_they_succeed(tmp_path: Path, provider: str) -> None:
    faults = FaultPlan(schedule={1: "server_error", 3: "server_error"})  # two rows of the first batch fail
    async with FakeModelServer(batch_delay=0.05, batch_faults=faults) as server:
        task = BatchTask.create(tmp_path, "retry", _spec(provider, server), max_attempts=3)
        task.add_many((r, None) for r in _requests(4))
        status = await task.run(poll_interval_s=POLL)
        results = list(task.results())
        await task.aclose()
    assert all(r.ok for r in results)
    assert [row.attempts for row in status.rows.values()] == [1, 2, 1, 2]
    assert [p.attempt for p in status.parts] == [1, 2]
    assert status.parts[1].rows == ["req-000001", "req-000003"]


async def test_rows_failing_every_attempt_are_reported_not_dropped(tmp_path: Path) -> None:
    faults = FaultPlan(rates={"server_error": 1.0})
    async with FakeModelServer(batch_delay=0.02, batch_faults=faults) as server:
        task = BatchTask.create(tmp_path, "hopeless", _spec("openai", server), max_attempts=2)
        task.add_many((r, None) for r in _requests(2))
        status = await task.run(poll_interval_s=POLL)
        results = list(task.results())
        await task.aclose()
    assert [r.outcome for r in results] == ["errored", "errored"]
    assert all("server_error" in (r.error or "") for r in results)
    assert [row.attempts for row in status.rows.values()] == [2, 2]


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_expired_rows_are_resubmitted(tmp_path: Path, provider: str) -> None:
    # Each batch expires after ~2 of its rows; resubmissions finish the rest.
    async with FakeModelServer(batch_delay=0.6, batch_expire_after=0.25) as server:
        task = BatchTask.create(tmp_path, "expiry", _spec(provider, server), max_attempts=10)
        task.add_many((r, None) for r in _requests(4))
        status = await task.run(poll_interval_s=POLL)
        results = list(task.results())
        await task.aclose()
    assert all(r.ok for r in results), [r.error for r in results]
    assert status.parts[0].state == "downloaded"
    assert len(status.parts) > 1  # the first batch expired with rows left
    assert max(row.attempts for row in status.rows.values()) > 1


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_cancel_keeps_answered_rows_and_submit_resumes_the_rest(tmp_path: Path, provider: str) -> None:
    async with FakeModelServer(batch_delay=2.0) as server:
        task = BatchTask.create(tmp_path, "cancel", _spec(provider, server))
        task.add_many((r, None) for r in _requests(6))
        await task.submit()
        cancelled = await task.cancel()
        assert len(cancelled) == 1
        for _ in range(200):
            status = await task.refresh()
            if status.parts[0].state == "downloaded":
                break
            await __import__("asyncio").sleep(POLL)
        counts = status.counts()
        assert counts["pending"] >= 1  # cancelled rows wait, uncounted, for the next submit
        assert all(row.attempts == (1 if row.outcome else 0) for row in status.rows.values())
        server.batches.processing_delay = 0.05
        status = await task.run(poll_interval_s=POLL)
        results = list(task.results())
        await task.aclose()
    assert len(results) == 6 and all(r.ok for r in results)


async def test_clean_deletes_only_the_files_this_task_made(tmp_path: Path) -> None:
    import openai

    async with FakeModelServer(batch_delay=0.02) as server:
        other = openai.AsyncOpenAI(api_key="sk-someone-else", base_url=server.openai_base_url)
        foreign = await other.files.create(file=("theirs.jsonl", b"{}\n"), purpose="batch")
        task = BatchTask.create(tmp_path, "clean", _spec("openai", server))
        task.add_many((r, None) for r in _requests(2))
        await task.run(poll_interval_s=POLL)
        ours = list(task.status.uploaded)
        deleted = await task.clean()
        remaining = {f.id for f in (await other.files.list()).data}
        await other.close()
        await task.aclose()
    assert sorted(deleted) == sorted(ours) and len(ours) == 2  # our input file and its output file
    assert remaining == {foreign.id}
    assert not (tmp_path / "clean").exists()


def test_reopening_a_task_with_another_backend_is_refused(tmp_path: Path) -> None:
    from envsim.models.batch.task import BatchTaskError

    BatchTask.create(tmp_path, "t", BackendSpec(provider="openai", model="a", base_url="http://127.0.0.1:1/v1"))
    with pytest.raises(BatchTaskError, match="uses openai:a"):
        BatchTask.create(tmp_path, "t", BackendSpec(provider="openai", model="b", base_url="http://127.0.0.1:1/v1"))
    with pytest.raises(BatchTaskError, match="no batch task 'missing'"):
        BatchTask.open(tmp_path, "missing")


async def test_a_batch_whose_input_file_is_invalid_fails_and_its_rows_say_why(tmp_path: Path) -> None:
    import openai

    async with FakeModelServer(batch_delay=0.02) as server:
        client = openai.AsyncOpenAI(api_key="sk-test-batch", base_url=server.openai_base_url)
        bad = await client.files.create(file=("bad.jsonl", b'{"custom_id": "a", "method": "GET"}\n'), purpose="batch")
        batch = await client.batches.create(
            input_file_id=bad.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        assert batch.status == "validating"
        for _ in range(100):
            batch = await client.batches.retrieve(batch.id)
            if batch.status == "failed":
                break
            await __import__("asyncio").sleep(POLL)
        await client.close()
    assert batch.status == "failed"
    assert batch.errors is not None and "line 1" in batch.errors.data[0].message


async def test_azure_openai_batches_through_the_sdks_azure_client(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "azure-test-key")
    async with FakeModelServer(batch_delay=0.02) as server:
        spec = BackendSpec(provider="azure", model="my-deployment", base_url=server.url, azure_api_version="2024-10-21")
        task = BatchTask.create(tmp_path, "azure", spec)
        task.add_many((r, None) for r in _requests(2))
        await task.run(poll_interval_s=POLL)
        results = list(task.results())
        await task.aclose()
        paths = {e.path for e in server.log}
    assert all(r.ok for r in results)
    assert "/openai/files" in paths and "/openai/batches" in paths  # Azure's resource paths, api-key auth

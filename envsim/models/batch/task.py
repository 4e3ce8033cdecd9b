"""Batch tasks (ArcticSynth's model): requests added to a named task in a work directory, partitioned
into batches by request count and bytes, submitted, polled, downloaded and merged into one
`results.jsonl` in request order. Failed and expired rows are resubmitted automatically, up to
`max_attempts` per row.

Layout of `<work_dir>/<task>/`:
    task.json            the whole state (parts, per-row attempts and outcomes, remote ids): rewritten
                         atomically after every change, so a client killed at any point resumes
    requests.jsonl       one line per added request: {custom_id, body} (the provider's wire body)
    parts/NNNN.input.jsonl    the rows of one submission
    parts/NNNN.results.jsonl  its downloaded results
    results.jsonl        the merged results, one line per request, in request order

`clean` deletes only remote files recorded in task.json (the input files this task uploaded and the
output/error files of its own batches), never anything else in the account.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from envsim.errors import EnvsimError
from envsim.messages import Message
from envsim.models.base import GenerationParams, ModelRequest
from envsim.models.batch.backend import ENDED_STATES, BatchBackend, RowResult
from envsim.models.batch.spec import BackendSpec, create_backend

DEFAULT_WORK_DIR = "batch_work_dir"
DEFAULT_POLL_INTERVAL_S = 30.0


class BatchTaskError(EnvsimError):
    """A batch task cannot do what was asked (unknown task, bad input rows, a batch that failed whole)."""


class RowState(BaseModel):
    model_config = ConfigDict(extra="forbid")

    attempts: int = 0
    part: int | None = None  # the part holding the row's current attempt
    result_part: int | None = None  # the part whose results hold the row's latest result
    outcome: str | None = None  # final outcome: succeeded | errored | expired | canceled
    error: str | None = None


class Part(BaseModel):
    model_config = ConfigDict(extra="forbid")

    index: int
    attempt: int  # 1 for first submissions, n for the n-th try of its rows
    rows: list[str]
    file_id: str | None = None  # uploaded input file (OpenAI)
    batch_id: str | None = None
    state: str = "new"  # new | <remote state> | downloaded
    counts: dict[str, int] = Field(default_factory=dict)
    result_files: list[str] = Field(default_factory=list)  # provider-made files of this batch
    error: str | None = None

    @property
    def active(self) -> bool:
        return self.batch_id is not None and self.state not in (*ENDED_STATES, "downloaded")


class TaskStatus(BaseModel):
    """The persisted state of a task (task.json)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    backend: BackendSpec
    created_at: float
    max_attempts: int = 3
    batch_size: int | None = None  # requests per batch (default: the provider's limit)
    max_bytes: int | None = None  # bytes per batch (default: the provider's limit)
    poll_interval_s: float = DEFAULT_POLL_INTERVAL_S
    cancelled: bool = False
    parts: list[Part] = Field(default_factory=list)
    rows: dict[str, RowState] = Field(default_factory=dict)  # insertion order = request order
    uploaded: list[str] = Field(default_factory=list)  # remote file ids this task made (ours to delete)
    merged: bool = False

    def counts(self) -> dict[str, int]:
        counts = {"requests": len(self.rows), "succeeded": 0, "failed": 0, "pending": 0, "running": 0}
        for row in self.rows.values():
            if row.outcome == "succeeded":
                counts["succeeded"] += 1
            elif row.outcome is not None:
                counts["failed"] += 1
            elif row.part is not None:
                counts["running"] += 1
            else:
                counts["pending"] += 1
        return counts

    @property
    def done(self) -> bool:
        return all(row.outcome is not None for row in self.rows.values())


ProgressCallback = Callable[[TaskStatus], None]


class BatchTask:
    def __init__(self, path: Path, status: TaskStatus, backend: BatchBackend | None = None) -> None:
        self.path = path
        self.status = status
        self._backend = backend
        # With `collect_settled`, results downloaded since the caller last took them (`take_settled`);
        # off by default so a task's memory does not grow with its rows.
        self.collect_settled = False
        self._settled: list[RowResult] = []
        self._downloading: int | None = None

    # ------------------------------------------------------------------ opening

    @classmethod
    def create(
        cls,
        work_dir: str | Path,
        name: str,
        backend: BackendSpec,
        *,
        max_attempts: int = 3,
        batch_size: int | None = None,
        max_bytes: int | None = None,
        poll_interval_s: float = DEFAULT_POLL_INTERVAL_S,
        exist_ok: bool = True,
    ) -> BatchTask:
        """A new task, or the existing one of that name (which must use the same backend)."""
        _check_name(name)
        path = Path(work_dir) / name
        if (path / "task.json").is_file():
            if not exist_ok:
                raise BatchTaskError(f"batch task {name!r} already exists in {work_dir}")
            task = cls.open(work_dir, name)
            if task.status.backend != backend:
                raise BatchTaskError(
                    f"batch task {name!r} uses {task.status.backend.provider}:{task.status.backend.model}, "
                    f"not {backend.provider}:{backend.model}",
                    hint="use another task name, or `envsim batch clean` the old task first",
                )
            return task
        if max_attempts < 1:
            raise BatchTaskError(f"max_attempts must be at least 1, got {max_attempts}")
        (path / "parts").mkdir(parents=True, exist_ok=True)
        status = TaskStatus(
            name=name,
            backend=backend,
            created_at=time.time(),
            max_attempts=max_attempts,
            batch_size=batch_size,
            max_bytes=max_bytes,
            poll_interval_s=poll_interval_s,
        )
        task = cls(path, status)
        task.save()
        return task

    @classmethod
    def open(cls, work_dir: str | Path, name: str) -> BatchTask:
        _check_name(name)
        path = Path(work_dir) / name
        try:
            status = TaskStatus.model_validate_json((path / "task.json").read_bytes())
        except FileNotFoundError:
            known = sorted(p.name for p in Path(work_dir).glob("*/task.json")) if Path(work_dir).is_dir() else []
            raise BatchTaskError(
                f"no batch task {name!r} in {work_dir}",
                hint="create it with `envsim batch add` (tasks here: " + (", ".join(known) or "none") + ")",
            ) from None
        return cls(path, status)

    @property
    def backend(self) -> BatchBackend:
        if self._backend is None:
            self._backend = create_backend(self.status.backend)
        return self._backend

    def save(self) -> None:
        """Atomically: a kill at any moment leaves the previous or the new state, never half of one."""
        tmp = self.path / "task.json.tmp"
        tmp.write_text(self.status.model_dump_json(indent=1))
        os.replace(tmp, self.path / "task.json")

    # ------------------------------------------------------------------ adding requests

    def add(self, request: ModelRequest, custom_id: str | None = None) -> str:
        return self.add_many([(request, custom_id)])[0]

    def add_chat(
        self, messages: list[dict[str, Any]] | list[Message], custom_id: str | None = None, **params: Any
    ) -> str:
        """A chat request from OpenAI-shaped messages and generation parameters (temperature, max_tokens...)."""
        request = ModelRequest(
            messages=[m if isinstance(m, Message) else Message.model_validate(m) for m in messages],
            params=GenerationParams(**params),
        )
        return self.add(request, custom_id)

    def add_many(self, items: Iterable[tuple[ModelRequest, str | None]]) -> list[str]:
        ids: list[str] = []
        with (self.path / "requests.jsonl").open("a", encoding="utf-8") as out:
            for request, given in items:
                custom_id = given or f"req-{len(self.status.rows):06d}"
                if custom_id in self.status.rows:
                    raise BatchTaskError(f"custom_id {custom_id!r} is already in task {self.status.name!r}")
                body = self.backend.body_for(request)
                out.write(json.dumps({"custom_id": custom_id, "body": body}, ensure_ascii=False) + "\n")
                self.status.rows[custom_id] = RowState()
                ids.append(custom_id)
        self.status.merged = False
        self.save()
        return ids

    def _bodies(self, wanted: set[str]) -> Iterator[tuple[str, dict[str, Any]]]:
        with (self.path / "requests.jsonl").open(encoding="utf-8") as lines:
            for raw in lines:
                row = json.loads(raw)
                if row["custom_id"] in wanted:
                    yield row["custom_id"], row["body"]

    # ------------------------------------------------------------------ partitioning and submitting

    def _plan_parts(self) -> list[Part]:
        """New parts for every row that is neither final nor in a live part, by count and bytes."""
        waiting = {cid for cid, row in self.status.rows.items() if row.outcome is None and row.part is None}
        if not waiting:
            return []
        limits = self.backend.limits
        max_rows = min(self.status.batch_size or limits.max_requests, limits.max_requests)
        max_bytes = min(self.status.max_bytes or limits.max_bytes, limits.max_bytes)
        parts: list[Part] = []
        current: list[tuple[str, dict[str, Any]]] = []
        size = 0
        attempt = 1

        def close() -> None:
            nonlocal current, size
            if current:
                index = len(self.status.parts) + len(parts)
                part = Part(index=index, attempt=attempt, rows=[cid for cid, _ in current])
                self._write_part_input(part, current)
                parts.append(part)
            current, size = [], 0

        for custom_id, body in self._bodies(waiting):
            attempt = max(attempt, self.status.rows[custom_id].attempts + 1)
            line = self.backend.line_bytes(custom_id, body)
            if line > max_bytes:
                raise BatchTaskError(f"request {custom_id!r} alone is {line} bytes, over the {max_bytes}-byte limit")
            if current and (len(current) >= max_rows or size + line > max_bytes):
                close()
            current.append((custom_id, body))
            size += line
        close()
        return parts

    def _write_part_input(self, part: Part, rows: list[tuple[str, dict[str, Any]]]) -> None:
        path = self.path / "parts" / f"{part.index:04d}.input.jsonl"
        with path.open("w", encoding="utf-8") as out:
            for custom_id, body in rows:
                out.write(json.dumps({"custom_id": custom_id, "body": body}, ensure_ascii=False) + "\n")

    def _part_rows(self, part: Part) -> list[tuple[str, dict[str, Any]]]:
        path = self.path / "parts" / f"{part.index:04d}.input.jsonl"
        with path.open(encoding="utf-8") as lines:
            return [(row["custom_id"], row["body"]) for row in map(json.loads, lines)]

    async def submit(self) -> list[Part]:
        """Submit every row not yet submitted (and parts a killed client left half-submitted)."""
        self.status.cancelled = False
        for part in self._plan_parts():
            self.status.parts.append(part)
            for custom_id in part.rows:
                row = self.status.rows[custom_id]
                row.part = part.index
                row.attempts += 1
            self.save()
        submitted = []
        for part in self.status.parts:
            if part.batch_id is None and part.state == "new":
                await self._submit_part(part)
                submitted.append(part)
        return submitted

    async def _submit_part(self, part: Part) -> None:
        rows = self._part_rows(part)
        label = f"{self.status.name}-{part.index:04d}"
        if part.file_id is None:
            part.file_id = await self.backend.upload(rows, label)
            if part.file_id is not None:
                self.status.uploaded.append(part.file_id)
                self.save()  # before creating the batch: a kill now still knows the file is ours
        part.batch_id = await self.backend.create(rows, part.file_id, label)
        part.state = "validating"
        self.save()

    # ------------------------------------------------------------------ polling and results

    async def refresh(self) -> TaskStatus:
        """Poll every live part; download the results of those that ended; plan resubmissions."""
        for part in self.status.parts:
            if part.active:
                remote = await self.backend.status(part.batch_id)  # type: ignore[arg-type]
                part.state, part.counts, part.error = remote.state, remote.counts, remote.error
                self.save()
            if part.batch_id is not None and part.state in ENDED_STATES:
                await self._download(part)
        return self.status

    async def _download(self, part: Part) -> None:
        assert part.batch_id is not None
        if part.state == "failed" and part.error:
            results = [RowResult(cid, "errored", error=f"the batch failed: {part.error}") for cid in part.rows]
            files: list[str] = []
        else:
            results, files = await self.backend.results(part.batch_id)
        by_id = {r.custom_id: r for r in results}
        self._downloading = part.index
        path = self.path / "parts" / f"{part.index:04d}.results.jsonl"
        with path.open("w", encoding="utf-8") as out:
            for custom_id in part.rows:
                result = by_id.get(custom_id) or RowResult(custom_id, "errored", error="no result for this row")
                out.write(json.dumps(result.to_json(), ensure_ascii=False) + "\n")
                self._settle(custom_id, result)
                if self.collect_settled:
                    self._settled.append(result)
        part.result_files = files
        self.status.uploaded.extend(f for f in files if f not in self.status.uploaded)
        part.state = "downloaded"
        self.status.merged = False
        self.save()

    def _settle(self, custom_id: str, result: RowResult) -> None:
        row = self.status.rows[custom_id]
        row.part = None
        row.result_part = self._downloading
        row.error = result.error
        if result.outcome == "canceled" and self.status.cancelled:
            # Cancelled on purpose: the row waits, uncounted, until the user submits (or runs) again.
            row.attempts -= 1
            return
        if result.ok or row.attempts >= self.status.max_attempts:
            row.outcome = result.outcome

    def take_settled(self) -> list[RowResult]:
        """The row results downloaded since the last call (a final one or an attempt to be retried)."""
        settled, self._settled = self._settled, []
        return settled

    def downloaded_results(self) -> dict[str, RowResult]:
        """Every downloaded result by custom_id, the latest attempt winning (for a resumed client)."""
        latest: dict[str, RowResult] = {}
        for part in self.status.parts:
            path = self.path / "parts" / f"{part.index:04d}.results.jsonl"
            if path.is_file():
                with path.open(encoding="utf-8") as lines:
                    for row in map(json.loads, lines):
                        latest[row["custom_id"]] = RowResult(
                            row["custom_id"], row["outcome"], body=row["body"], error=row["error"]
                        )
        return latest

    async def download(self) -> TaskStatus:
        return await self.refresh()

    async def cancel(self) -> list[Part]:
        self.status.cancelled = True
        cancelled = []
        for part in self.status.parts:
            if part.active:
                await self.backend.cancel(part.batch_id)  # type: ignore[arg-type]
                part.state = "cancelling"
                cancelled.append(part)
        # Rows never submitted stay pending; `submit` (or `run`) picks them up again.
        self.save()
        return cancelled

    async def run(
        self,
        *,
        poll_interval_s: float | None = None,
        timeout_s: float | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> TaskStatus:
        """Submit, poll, download, resubmit failed rows, until every row is final; then merge."""
        interval = self.status.poll_interval_s if poll_interval_s is None else poll_interval_s
        started = time.monotonic()
        await self.submit()
        while True:
            await self.refresh()
            if on_progress is not None:
                on_progress(self.status)
            if self.status.done:
                break
            if not any(p.active for p in self.status.parts):
                await self.submit()  # rows waiting for another attempt
                continue
            if timeout_s is not None and time.monotonic() - started > timeout_s:
                raise BatchTaskError(
                    f"batch task {self.status.name!r} did not finish within {timeout_s:g} s; it keeps running remotely",
                    hint="run the same command again later to resume (nothing is lost)",
                )
            await asyncio.sleep(interval)
        self.merge()
        return self.status

    def merge(self) -> Path:
        """results.jsonl: one line per request in request order (the latest attempt's result).

        Streams: every part's results file is in request order, so one pass reads each file once,
        skipping the lines a later attempt superseded; memory does not grow with the number of rows."""
        readers: dict[int, Iterator[dict[str, Any]]] = {}
        files = []
        out_path = self.path / "results.jsonl"
        tmp = out_path.with_suffix(".jsonl.tmp")
        try:
            for part in self.status.parts:
                path = self.path / "parts" / f"{part.index:04d}.results.jsonl"
                if path.is_file():
                    handle = path.open(encoding="utf-8")
                    files.append(handle)
                    readers[part.index] = map(json.loads, handle)
            with tmp.open("w", encoding="utf-8") as out:
                for custom_id, row in self.status.rows.items():
                    result = None
                    if row.result_part is not None and row.result_part in readers:
                        result = next((r for r in readers[row.result_part] if r["custom_id"] == custom_id), None)
                    result = result or {"custom_id": custom_id, "outcome": None, "body": None, "error": None}
                    result["attempts"] = row.attempts
                    out.write(json.dumps(result, ensure_ascii=False) + "\n")
        finally:
            for handle in files:
                handle.close()
        os.replace(tmp, out_path)
        self.status.merged = True
        self.save()
        return out_path

    def results(self) -> Iterator[RowResult]:
        """The merged results in request order (merging first if needed)."""
        path = self.path / "results.jsonl"
        if not self.status.merged or not path.is_file():
            self.merge()
        with path.open(encoding="utf-8") as lines:
            for raw in lines:
                row = json.loads(raw)
                if row["outcome"] is not None:
                    yield RowResult(row["custom_id"], row["outcome"], body=row["body"], error=row["error"])

    # ------------------------------------------------------------------ cleaning

    async def clean(self, *, remote: bool = True, local: bool = True) -> list[str]:
        """Delete the remote files this task made (never others) and, with `local`, the task directory."""
        deleted = []
        if remote:
            for file_id in list(self.status.uploaded):
                try:
                    await self.backend.delete_file(file_id)
                except EnvsimError as exc:
                    if "404" not in str(exc) and "No such" not in str(exc):
                        raise
                deleted.append(file_id)
                self.status.uploaded.remove(file_id)
                self.save()
        if local:
            for child in sorted(self.path.rglob("*"), reverse=True):
                child.unlink() if child.is_file() else child.rmdir()
            self.path.rmdir()
        return deleted

    async def aclose(self) -> None:
        if self._backend is not None:
            await self._backend.aclose()


def execute_batch_task(task: BatchTask, **kwargs: Any) -> TaskStatus:
    """Synchronous `task.run(...)` (ArcticSynth's `execute_batch_task`)."""
    from envsim.event_loop import run_async

    async def go() -> TaskStatus:
        try:
            return await task.run(**kwargs)
        finally:
            await task.aclose()

    return run_async(go())


def _check_name(name: str) -> None:
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise BatchTaskError(f"invalid batch task name {name!r}", hint="use letters, digits, '-' and '_'")

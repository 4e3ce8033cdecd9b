"""The fake server's batch APIs: OpenAI Files + Batches and Anthropic Message Batches, offline.

Faithful where clients look: the same routes, object shapes and state machines as the real services.

- OpenAI: `POST /v1/files` (multipart, purpose=batch), `GET /v1/files[/{id}[/content]]`,
  `DELETE /v1/files/{id}`; `POST /v1/batches`, `GET /v1/batches[/{id}]`, `POST /v1/batches/{id}/cancel`.
  States: validating -> in_progress -> finalizing -> completed, or failed (bad input file), expired
  (not done within `expire_after`), cancelling -> cancelled. Rows that fail go to the error file.
- Anthropic: `POST /v1/messages/batches`, `GET /v1/messages/batches[/{id}]`, `.../{id}/cancel`,
  `.../{id}/results` (JSONL). processing_status: in_progress -> canceling -> ended.

Every row is answered by the server's own handler (the same replies as online requests). A batch takes
`processing_delay` seconds; rows finish evenly over that time, so a status poll sees progress.
"""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from envsim.testing.fake_server.http11 import HttpRequest, HttpResponse

# (api, request body) -> (HTTP status, response payload); the server's single-request path.
RowAnswer = Callable[[str, dict[str, Any]], Awaitable[tuple[int, Any]]]
# row index within the whole server's batch rows -> a fault name or None (see FaultPlan.pick)
RowFault = Callable[[int], str | None]

OPENAI_MAX_REQUESTS = 50_000
ANTHROPIC_MAX_REQUESTS = 100_000


@dataclass
class StoredFile:
    id: str
    filename: str
    purpose: str
    content: bytes
    created_at: int

    def object(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "file",
            "bytes": len(self.content),
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
            "expires_at": None,
            "status_details": None,
        }


@dataclass
class Row:
    custom_id: str
    body: dict[str, Any]
    # "succeeded" | "errored" | "expired" | "canceled"; None while pending
    outcome: str | None = None
    status: int = 0
    payload: Any = None


@dataclass
class FakeBatch:
    id: str
    api: str  # "openai" | "anthropic"
    rows: list[Row]
    created_at: float
    input_file_id: str | None = None
    endpoint: str = "/v1/chat/completions"
    metadata: dict[str, Any] | None = None
    status: str = "validating"  # OpenAI vocabulary; Anthropic's processing_status is derived
    validation_errors: list[dict[str, Any]] = field(default_factory=list)
    times: dict[str, float] = field(default_factory=dict)
    output_file_id: str | None = None
    error_file_id: str | None = None
    task: asyncio.Task[None] | None = None

    def counts(self) -> dict[str, int]:
        done = [r for r in self.rows if r.outcome is not None]
        return {
            "total": len(self.rows),
            "completed": sum(1 for r in done if r.outcome == "succeeded"),
            "failed": sum(1 for r in done if r.outcome != "succeeded"),
        }


class BatchAPI:
    def __init__(
        self,
        answer: RowAnswer,
        *,
        processing_delay: float = 0.0,
        expire_after: float | None = None,
        row_fault: RowFault | None = None,
    ) -> None:
        self.answer = answer
        self.processing_delay = processing_delay
        self.expire_after = expire_after  # seconds after creation; None: never expires
        self.row_fault = row_fault
        self.files: dict[str, StoredFile] = {}
        self.batches: dict[str, FakeBatch] = {}
        self._rows_seen = 0

    # ------------------------------------------------------------------ routing

    def handles(self, path: str) -> bool:
        # Azure OpenAI's resource paths are /openai/files and /openai/batches.
        prefixes = ("/v1/files", "/v1/batches", "/v1/messages/batches", "/files", "/batches", "/openai/files")
        return path.startswith((*prefixes, "/openai/batches"))

    async def handle(self, http: HttpRequest) -> HttpResponse:
        parts = [p for p in http.path.split("/") if p]
        if parts and parts[0] in ("v1", "openai"):
            parts = parts[1:]
        method = http.method
        try:
            if parts[:2] == ["messages", "batches"]:
                return await self._anthropic(method, parts[2:], http)
            if parts[0] == "files":
                return self._files(method, parts[1:], http)
            return self._openai_batches(method, parts[1:], http)
        except _ApiError as exc:
            return exc.response()

    # ------------------------------------------------------------------ OpenAI files

    def _files(self, method: str, rest: list[str], http: HttpRequest) -> HttpResponse:
        if not rest:
            if method == "POST":
                return _ok(self._upload(http).object())
            if method == "GET":
                return _ok({"object": "list", "data": [f.object() for f in self.files.values()], "has_more": False})
        elif len(rest) == 1:
            stored = self._file(rest[0])
            if method == "GET":
                return _ok(stored.object())
            if method == "DELETE":
                del self.files[stored.id]
                return _ok({"id": stored.id, "object": "file", "deleted": True})
        elif len(rest) == 2 and rest[1] == "content" and method == "GET":
            return HttpResponse(200, self._file(rest[0]).content, content_type="application/octet-stream")
        raise _ApiError(404, f"no route {method} {http.path}")

    def _file(self, file_id: str) -> StoredFile:
        stored = self.files.get(file_id)
        if stored is None:
            raise _ApiError(404, f"No such File object: {file_id}")
        return stored

    def _upload(self, http: HttpRequest) -> StoredFile:
        content_type = http.headers.get("content-type", "")
        if not content_type.startswith("multipart/form-data"):
            raise _ApiError(400, "files must be uploaded as multipart/form-data")
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"content-type: " + content_type.encode("latin-1") + b"\r\n\r\n" + http.body
        )
        fields: dict[str, tuple[str | None, bytes]] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            fields[str(name)] = (part.get_filename(), part.get_payload(decode=True) or b"")
        if "file" not in fields or "purpose" not in fields:
            raise _ApiError(400, "a file upload needs the fields `file` and `purpose`")
        filename, content = fields["file"]
        stored = StoredFile(
            id=f"file-{uuid.uuid4().hex[:24]}",
            filename=filename or "upload.jsonl",
            purpose=fields["purpose"][1].decode(),
            content=content,
            created_at=int(time.time()),
        )
        self.files[stored.id] = stored
        return stored

    def _store(self, filename: str, lines: list[dict[str, Any]]) -> str:
        content = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
        stored = StoredFile(f"file-{uuid.uuid4().hex[:24]}", filename, "batch_output", content, int(time.time()))
        self.files[stored.id] = stored
        return stored.id

    # ------------------------------------------------------------------ OpenAI batches

    def _openai_batches(self, method: str, rest: list[str], http: HttpRequest) -> HttpResponse:
        if not rest and method == "POST":
            return _ok(self._openai_object(self._create_openai(_json_body(http))))
        if not rest and method == "GET":
            data = [self._openai_object(b) for b in self.batches.values() if b.api == "openai"]
            return _ok({"object": "list", "data": data, "has_more": False})
        batch = self._batch(rest[0], "openai") if rest else None
        if batch is not None and len(rest) == 1 and method == "GET":
            return _ok(self._openai_object(batch))
        if batch is not None and rest[1:] == ["cancel"] and method == "POST":
            self._cancel(batch)
            return _ok(self._openai_object(batch))
        raise _ApiError(404, f"no route {method} {http.path}")

    def _create_openai(self, body: dict[str, Any]) -> FakeBatch:
        input_file = self._file(str(body.get("input_file_id")))
        endpoint = body.get("endpoint", "/v1/chat/completions")
        if body.get("completion_window") != "24h":
            raise _ApiError(400, "completion_window must be '24h'")
        batch = FakeBatch(
            id=f"batch_{uuid.uuid4().hex[:24]}",
            api="openai",
            rows=[],
            created_at=time.time(),
            input_file_id=input_file.id,
            endpoint=endpoint,
            metadata=body.get("metadata"),
        )
        batch.times["created_at"] = batch.created_at
        seen: set[str] = set()
        for number, raw in enumerate(input_file.content.splitlines(), start=1):
            if not raw.strip():
                continue
            problem = None
            try:
                line = json.loads(raw)
                custom_id = line["custom_id"]
                if line.get("method") != "POST" or line.get("url") != endpoint or not isinstance(line["body"], dict):
                    problem = f"line {number}: method must be POST and url must be {endpoint}"
                elif custom_id in seen:
                    problem = f"line {number}: duplicate custom_id {custom_id!r}"
                else:
                    seen.add(custom_id)
                    batch.rows.append(Row(custom_id=custom_id, body=line["body"]))
            except (ValueError, KeyError, TypeError) as exc:
                problem = f"line {number}: not a batch request line ({exc})"
            if problem:
                batch.validation_errors.append({"code": "invalid_request", "message": problem, "line": number})
        if len(batch.rows) > OPENAI_MAX_REQUESTS:
            batch.validation_errors.append({"code": "too_many_requests", "message": "over 50,000 requests"})
        self.batches[batch.id] = batch
        batch.task = asyncio.get_running_loop().create_task(self._process(batch))
        return batch

    def _openai_object(self, batch: FakeBatch) -> dict[str, Any]:
        def at(name: str) -> int | None:
            value = batch.times.get(name)
            return int(value) if value is not None else None

        errors = {"object": "list", "data": batch.validation_errors} if batch.validation_errors else None
        return {
            "id": batch.id,
            "object": "batch",
            "endpoint": batch.endpoint,
            "errors": errors,
            "input_file_id": batch.input_file_id,
            "completion_window": "24h",
            "status": batch.status,
            "output_file_id": batch.output_file_id,
            "error_file_id": batch.error_file_id,
            "created_at": at("created_at"),
            "in_progress_at": at("in_progress_at"),
            "expires_at": int(batch.created_at + 86400),
            "finalizing_at": at("finalizing_at"),
            "completed_at": at("completed_at"),
            "failed_at": at("failed_at"),
            "expired_at": at("expired_at"),
            "cancelling_at": at("cancelling_at"),
            "cancelled_at": at("cancelled_at"),
            "request_counts": batch.counts(),
            "metadata": batch.metadata,
        }

    # ------------------------------------------------------------------ Anthropic message batches

    async def _anthropic(self, method: str, rest: list[str], http: HttpRequest) -> HttpResponse:
        if not rest and method == "POST":
            return _ok(self._anthropic_object(self._create_anthropic(_json_body(http))))
        if not rest and method == "GET":
            data = [self._anthropic_object(b) for b in self.batches.values() if b.api == "anthropic"]
            return _ok({"data": data, "has_more": False, "first_id": None, "last_id": None})
        batch = self._batch(rest[0], "anthropic")
        if len(rest) == 1 and method == "GET":
            return _ok(self._anthropic_object(batch))
        if rest[1:] == ["cancel"] and method == "POST":
            self._cancel(batch)
            return _ok(self._anthropic_object(batch))
        if rest[1:] == ["results"] and method == "GET":
            if batch.status not in _ENDED:
                raise _ApiError(400, f"Message batch {batch.id} has not ended")
            lines = [self._anthropic_result(row) for row in batch.rows]
            content = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
            return HttpResponse(200, content, content_type="application/binary")
        raise _ApiError(404, f"no route {method} {http.path}")

    def _create_anthropic(self, body: dict[str, Any]) -> FakeBatch:
        requests = body.get("requests")
        if not isinstance(requests, list) or not requests:
            raise _ApiError(400, "requests: a non-empty list is required")
        if len(requests) > ANTHROPIC_MAX_REQUESTS:
            raise _ApiError(413, "a message batch holds at most 100,000 requests")
        rows, seen = [], set()
        for index, item in enumerate(requests):
            if not isinstance(item, dict) or not isinstance(item.get("params"), dict) or "custom_id" not in item:
                raise _ApiError(400, f"requests.{index}: needs custom_id and params")
            if item["custom_id"] in seen:
                raise _ApiError(400, f"requests.{index}: duplicate custom_id {item['custom_id']!r}")
            seen.add(item["custom_id"])
            rows.append(Row(custom_id=item["custom_id"], body=item["params"]))
        batch = FakeBatch(id=f"msgbatch_{uuid.uuid4().hex[:24]}", api="anthropic", rows=rows, created_at=time.time())
        batch.times["created_at"] = batch.created_at
        self.batches[batch.id] = batch
        batch.task = asyncio.get_running_loop().create_task(self._process(batch))
        return batch

    def _anthropic_object(self, batch: FakeBatch) -> dict[str, Any]:
        counts = {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        for row in batch.rows:
            counts["processing" if row.outcome is None else row.outcome] += 1
        ended = batch.status in _ENDED
        processing = "ended" if ended else "canceling" if batch.status == "cancelling" else "in_progress"
        return {
            "id": batch.id,
            "type": "message_batch",
            "processing_status": processing,
            "request_counts": counts,
            "created_at": _iso(batch.created_at),
            "expires_at": _iso(batch.created_at + 86400),
            "ended_at": _iso(batch.times["ended_at"]) if "ended_at" in batch.times else None,
            "cancel_initiated_at": _iso(batch.times["cancelling_at"]) if "cancelling_at" in batch.times else None,
            "archived_at": None,
            "results_url": f"/v1/messages/batches/{batch.id}/results" if ended else None,
        }

    @staticmethod
    def _anthropic_result(row: Row) -> dict[str, Any]:
        if row.outcome == "succeeded":
            return {"custom_id": row.custom_id, "result": {"type": "succeeded", "message": row.payload}}
        if row.outcome == "errored":
            error = row.payload.get("error", {}) if isinstance(row.payload, dict) else {}
            inner = {"type": error.get("type", "api_error"), "message": error.get("message", "error")}
            return {
                "custom_id": row.custom_id,
                "result": {"type": "errored", "error": {"type": "error", "error": inner}},
            }
        return {"custom_id": row.custom_id, "result": {"type": row.outcome or "expired"}}

    # ------------------------------------------------------------------ processing

    def _batch(self, batch_id: str, api: str) -> FakeBatch:
        batch = self.batches.get(batch_id)
        if batch is None or batch.api != api:
            raise _ApiError(404, f"No batch found with id '{batch_id}'")
        return batch

    def _cancel(self, batch: FakeBatch) -> None:
        if batch.status in _ENDED:
            raise _ApiError(409, f"Cannot cancel a batch with status '{batch.status}'")
        batch.status = "cancelling"
        batch.times["cancelling_at"] = time.time()

    async def _process(self, batch: FakeBatch) -> None:
        step = self.processing_delay / max(1, len(batch.rows) + 2)
        await asyncio.sleep(step)
        if batch.validation_errors:
            self._end(batch, "failed")
            return
        if batch.status == "validating":
            batch.status = "in_progress"
            batch.times["in_progress_at"] = time.time()
        for row in batch.rows:
            if batch.status == "cancelling":
                break
            if self.expire_after is not None and time.time() - batch.created_at > self.expire_after:
                break
            await asyncio.sleep(step)
            index = self._rows_seen
            self._rows_seen += 1
            fault = self.row_fault(index) if self.row_fault else None
            if fault is not None:
                row.outcome, row.status = "errored", 500
                row.payload = _error_payload(batch.api, f"row failed ({fault}, fake server fault injection)")
                continue
            row.status, row.payload = await self.answer(batch.api, row.body)
            row.outcome = "succeeded" if row.status == 200 else "errored"
        pending_outcome = "canceled" if batch.status == "cancelling" else "expired"
        for row in batch.rows:
            if row.outcome is None:
                row.outcome = pending_outcome
        if batch.status == "cancelling":
            final = "cancelled"
        elif any(r.outcome == "expired" for r in batch.rows):
            final = "expired"
        else:
            batch.status = "finalizing"
            batch.times["finalizing_at"] = time.time()
            await asyncio.sleep(step)
            final = "completed"
        if batch.api == "openai":
            self._write_openai_files(batch)
        self._end(batch, final)

    def _end(self, batch: FakeBatch, final: str) -> None:
        batch.status = final
        now = time.time()
        batch.times[
            {"completed": "completed_at", "failed": "failed_at", "expired": "expired_at"}.get(final, "cancelled_at")
        ] = now
        batch.times["ended_at"] = now

    def _write_openai_files(self, batch: FakeBatch) -> None:
        output, errors = [], []
        for row in batch.rows:
            request_id = f"req_{uuid.uuid4().hex[:16]}"
            line_id = f"batch_req_{uuid.uuid4().hex[:16]}"
            if row.outcome in ("succeeded", "errored") and row.payload is not None:
                response = {"status_code": row.status, "request_id": request_id, "body": row.payload}
                target = output if row.outcome == "succeeded" else errors
                target.append({"id": line_id, "custom_id": row.custom_id, "response": response, "error": None})
            else:
                code = "batch_expired" if row.outcome == "expired" else "batch_cancelled"
                message = (
                    "This request could not be executed before the completion window expired."
                    if (row.outcome == "expired")
                    else "This request was cancelled before it ran."
                )
                error = {"code": code, "message": message}
                errors.append({"id": line_id, "custom_id": row.custom_id, "response": None, "error": error})
        if output:
            batch.output_file_id = self._store(f"{batch.id}_output.jsonl", output)
        if errors:
            batch.error_file_id = self._store(f"{batch.id}_error.jsonl", errors)

    async def aclose(self) -> None:
        for batch in self.batches.values():
            if batch.task is not None and not batch.task.done():
                batch.task.cancel()


_ENDED = {"completed", "failed", "expired", "cancelled"}


class _ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def response(self) -> HttpResponse:
        body = {"error": {"message": self.message, "type": "invalid_request_error", "code": None}}
        return HttpResponse(self.status, json.dumps(body).encode())


def _json_body(http: HttpRequest) -> dict[str, Any]:
    try:
        body = json.loads(http.body or b"null")
    except ValueError as exc:
        raise _ApiError(400, f"the request body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise _ApiError(400, "the request body must be a JSON object")
    return body


def _error_payload(api: str, message: str) -> dict[str, Any]:
    if api == "anthropic":
        return {"type": "error", "error": {"type": "api_error", "message": message}}
    return {"error": {"message": message, "type": "server_error", "code": None}}


def _ok(payload: Any) -> HttpResponse:
    return HttpResponse(200, json.dumps(payload).encode())


def _iso(timestamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))

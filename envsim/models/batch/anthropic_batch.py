"""Anthropic Message Batches: `/v1/messages/batches` create, retrieve, results (JSONL stream), cancel."""

from __future__ import annotations

from typing import Any

from envsim.models.anthropic_provider import AnthropicChatModel
from envsim.models.base import ModelRequest, ModelResponse
from envsim.models.batch.backend import BatchBackend, BatchLimits, RemoteStatus, RowResult
from envsim.models.http_errors import sdk_error
from envsim.models.request_guard import ensure_model_requests_allowed

ANTHROPIC_LIMITS = BatchLimits(max_requests=100_000, max_bytes=256 * 1024 * 1024)
_STATES = {"in_progress": "in_progress", "canceling": "cancelling"}


class AnthropicBatchBackend(BatchBackend):
    provider = "anthropic"
    limits = ANTHROPIC_LIMITS

    def __init__(self, model: AnthropicChatModel, *, timeout: float = 120.0) -> None:
        self.model = model
        self.timeout = timeout
        self._client: Any = None

    def _sdk(self) -> Any:
        import anthropic

        if self._client is None:
            ensure_model_requests_allowed(self.model.base_url, self.model.endpoint)
            self._client = anthropic.AsyncAnthropic(
                api_key=self.model._api_key, base_url=self.model.base_url, max_retries=3, timeout=self.timeout
            )
        return self._client

    async def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        import anthropic

        try:
            return await fn(*args, **kwargs)
        except anthropic.AnthropicError as exc:
            raise sdk_error(
                exc,
                anthropic,
                endpoint=self.model.endpoint,
                api_key_env=self.model.api_key_env,
                secrets=[self.model._api_key],
            ) from None

    def body_for(self, request: ModelRequest) -> dict[str, Any]:
        params, _ = self.model.build_params(request)
        body = {k: v for k, v in params.items() if k != "extra_body"}
        body.update(params.get("extra_body") or {})  # sampling parameters travel in the body itself
        return body

    async def upload(self, rows: list[tuple[str, dict[str, Any]]], label: str) -> str | None:
        return None  # the requests travel in the create call

    async def create(self, rows: list[tuple[str, dict[str, Any]]], file_id: str | None, label: str) -> str:
        requests = [{"custom_id": custom_id, "params": body} for custom_id, body in rows]
        batch = await self._call(self._sdk().messages.batches.create, requests=requests)
        return str(batch.id)

    async def status(self, batch_id: str) -> RemoteStatus:
        batch = await self._call(self._sdk().messages.batches.retrieve, batch_id)
        counts = batch.request_counts.model_dump()
        if batch.processing_status == "ended":
            state = "cancelled" if batch.cancel_initiated_at is not None else "completed"
            if state == "completed" and counts.get("expired") and not counts.get("succeeded"):
                state = "expired"
        else:
            state = _STATES.get(batch.processing_status, "in_progress")
        return RemoteStatus(state=state, counts=counts)  # type: ignore[arg-type]

    async def results(self, batch_id: str) -> tuple[list[RowResult], list[str]]:
        decoder = await self._call(self._sdk().messages.batches.results, batch_id)
        results: list[RowResult] = []
        async for entry in decoder:
            result = entry.result
            kind = result.type
            if kind == "succeeded":
                results.append(RowResult(entry.custom_id, "succeeded", body=result.message.model_dump(mode="json")))
            elif kind == "errored":
                error = result.error.error
                results.append(RowResult(entry.custom_id, "errored", error=f"{error.type}: {error.message}"))
            else:
                results.append(RowResult(entry.custom_id, "expired" if kind == "expired" else "canceled"))
        return results, []

    async def cancel(self, batch_id: str) -> None:
        await self._call(self._sdk().messages.batches.cancel, batch_id)

    async def delete_file(self, file_id: str) -> None:
        return None  # Message Batches upload no files

    def parse(self, body: dict[str, Any], request: ModelRequest | None = None) -> ModelResponse:
        import anthropic.types

        reply = anthropic.types.Message.model_validate(body)
        forced = None
        if request is not None and request.response_schema is not None:
            _, forced = self.model.build_params(request)
        return self.model.parse_message(reply, forced_schema_tool=forced, request=request)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

"""The OpenAI Batch API (and Azure OpenAI's, which the SDK covers): a JSONL input file of
`{custom_id, method, url, body}` uploaded to `/v1/files`, a batch on `/v1/batches`, output and error files."""

from __future__ import annotations

import json
from typing import Any

from envsim.models.base import ModelRequest, ModelResponse
from envsim.models.batch.backend import BatchBackend, BatchLimits, RemoteStatus, RowResult
from envsim.models.http_errors import sdk_error
from envsim.models.openai_provider import OpenAIChatModel
from envsim.models.request_guard import ensure_model_requests_allowed

CHAT_URL = "/v1/chat/completions"
OPENAI_LIMITS = BatchLimits(max_requests=50_000, max_bytes=200 * 1024 * 1024)


class OpenAIBatchBackend(BatchBackend):
    provider = "openai"
    limits = OPENAI_LIMITS

    def __init__(
        self,
        model: OpenAIChatModel,
        *,
        azure_api_version: str | None = None,
        timeout: float = 120.0,
    ) -> None:
        self.model = model  # converts requests and replies exactly as online calls do
        self.azure_api_version = azure_api_version
        # Azure's batch lines and batches name the endpoint without the /v1 prefix.
        self.chat_url = "/chat/completions" if azure_api_version else CHAT_URL
        self.timeout = timeout
        self._client: Any = None

    def _sdk(self) -> Any:
        import openai

        if self._client is None:
            target = self.model._target
            ensure_model_requests_allowed(target.base_url, self.model.endpoint)
            if self.azure_api_version:
                self._client = openai.AsyncAzureOpenAI(
                    azure_endpoint=target.base_url,
                    api_key=target.api_key,
                    api_version=self.azure_api_version,
                    max_retries=3,
                    timeout=self.timeout,
                )
            else:
                self._client = openai.AsyncOpenAI(
                    api_key=target.api_key, base_url=target.base_url, max_retries=3, timeout=self.timeout
                )
        return self._client

    async def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        import openai

        try:
            return await fn(*args, **kwargs)
        except openai.OpenAIError as exc:
            target = self.model._target
            raise sdk_error(
                exc, openai, endpoint=self.model.endpoint, api_key_env=target.api_key_env, secrets=[target.api_key]
            ) from None

    def body_for(self, request: ModelRequest) -> dict[str, Any]:
        return self.model.build_params(request)

    def line(self, custom_id: str, body: dict[str, Any]) -> bytes:
        return (
            json.dumps({"custom_id": custom_id, "method": "POST", "url": self.chat_url, "body": body}).encode() + b"\n"
        )

    def line_bytes(self, custom_id: str, body: dict[str, Any]) -> int:
        return len(self.line(custom_id, body))

    async def upload(self, rows: list[tuple[str, dict[str, Any]]], label: str) -> str | None:
        content = b"".join(self.line(custom_id, body) for custom_id, body in rows)
        client = self._sdk()
        uploaded = await self._call(client.files.create, file=(f"{label}.jsonl", content), purpose="batch")
        return str(uploaded.id)

    async def create(self, rows: list[tuple[str, dict[str, Any]]], file_id: str | None, label: str) -> str:
        assert file_id is not None
        client = self._sdk()
        batch = await self._call(
            client.batches.create,
            input_file_id=file_id,
            endpoint=self.chat_url,
            completion_window="24h",
            metadata={"envsim_part": label},
        )
        return str(batch.id)

    async def status(self, batch_id: str) -> RemoteStatus:
        batch = await self._call(self._sdk().batches.retrieve, batch_id)
        counts = batch.request_counts.model_dump() if batch.request_counts else {}
        error = None
        if batch.errors and batch.errors.data:
            error = "; ".join(f"{e.code}: {e.message}" for e in batch.errors.data[:5])
        return RemoteStatus(state=batch.status, counts=counts, error=error)

    async def results(self, batch_id: str) -> tuple[list[RowResult], list[str]]:
        client = self._sdk()
        batch = await self._call(client.batches.retrieve, batch_id)
        results: list[RowResult] = []
        files = [f for f in (batch.output_file_id, batch.error_file_id) if f]
        for file_id in files:
            content = await self._call(client.files.content, file_id)
            for raw in content.content.splitlines():
                if raw.strip():
                    results.append(_row_result(json.loads(raw)))
        return results, files

    async def cancel(self, batch_id: str) -> None:
        await self._call(self._sdk().batches.cancel, batch_id)

    async def delete_file(self, file_id: str) -> None:
        await self._call(self._sdk().files.delete, file_id)

    def parse(self, body: dict[str, Any], request: ModelRequest | None = None) -> ModelResponse:
        return self.model.parse_completion(body)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None


def _row_result(line: dict[str, Any]) -> RowResult:
    custom_id = str(line.get("custom_id"))
    response = line.get("response") or {}
    error = line.get("error")
    if response.get("status_code") == 200 and isinstance(response.get("body"), dict):
        return RowResult(custom_id, "succeeded", body=response["body"])
    if error:
        code = error.get("code") or "error"
        outcome = "expired" if code == "batch_expired" else "canceled" if code == "batch_cancelled" else "errored"
        return RowResult(custom_id, outcome, error=f"{code}: {error.get('message', '')}")
    body = response.get("body") or {}
    detail = body.get("error", {}).get("message") if isinstance(body.get("error"), dict) else None
    return RowResult(custom_id, "errored", error=f"HTTP {response.get('status_code')}: {detail or body}")

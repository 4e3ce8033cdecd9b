"""What a batch provider does, independent of its wire format: submit rows, poll, fetch results, cancel."""

from __future__ import annotations

import abc
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from envsim.models.base import ModelRequest, ModelResponse

# OpenAI's vocabulary; Anthropic's processing_status maps onto it.
BatchState = Literal[
    "validating", "in_progress", "finalizing", "completed", "failed", "expired", "cancelling", "cancelled"
]
ENDED_STATES: frozenset[str] = frozenset({"completed", "failed", "expired", "cancelled"})
RowOutcome = Literal["succeeded", "errored", "expired", "canceled"]


@dataclass(frozen=True)
class BatchLimits:
    max_requests: int
    max_bytes: int


@dataclass(frozen=True)
class RemoteStatus:
    state: BatchState
    counts: dict[str, int] = field(default_factory=dict)
    error: str | None = None  # why a whole batch failed (validation errors)

    @property
    def ended(self) -> bool:
        return self.state in ENDED_STATES


@dataclass(frozen=True)
class RowResult:
    """One request's outcome. `body` is the provider's response JSON when it succeeded."""

    custom_id: str
    outcome: RowOutcome
    body: dict[str, Any] | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.outcome == "succeeded"

    def to_json(self) -> dict[str, Any]:
        return {"custom_id": self.custom_id, "outcome": self.outcome, "body": self.body, "error": self.error}


@dataclass(frozen=True)
class Submitted:
    batch_id: str
    file_ids: list[str]  # remote files this submission uploaded (ours to delete)


class BatchBackend(abc.ABC):
    """One provider's batch API, through its official SDK."""

    provider: str
    limits: BatchLimits

    @abc.abstractmethod
    def body_for(self, request: ModelRequest) -> dict[str, Any]:
        """The wire body of one request (what an online call would send)."""

    def line_bytes(self, custom_id: str, body: dict[str, Any]) -> int:
        """Bytes this row adds to a batch (for partitioning by size)."""
        return len(json.dumps({"custom_id": custom_id, "body": body}).encode()) + 64

    @abc.abstractmethod
    async def upload(self, rows: list[tuple[str, dict[str, Any]]], label: str) -> str | None:
        """Upload the rows' input file where the API has one; returns its id (None: no file)."""

    @abc.abstractmethod
    async def create(self, rows: list[tuple[str, dict[str, Any]]], file_id: str | None, label: str) -> str:
        """Create the batch; returns its id."""

    @abc.abstractmethod
    async def status(self, batch_id: str) -> RemoteStatus: ...

    @abc.abstractmethod
    async def results(self, batch_id: str) -> tuple[list[RowResult], list[str]]:
        """Every row's result, and the ids of result files the provider made for this batch."""

    @abc.abstractmethod
    async def cancel(self, batch_id: str) -> None: ...

    @abc.abstractmethod
    async def delete_file(self, file_id: str) -> None: ...

    @abc.abstractmethod
    def parse(self, body: dict[str, Any], request: ModelRequest | None = None) -> ModelResponse:
        """A succeeded row's body as the ModelResponse an online call would have given."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Close the SDK client."""

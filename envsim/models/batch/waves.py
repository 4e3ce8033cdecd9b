"""Batch mode for whole runs: model calls of many episodes go out in waves, through a batch API.

A conversation is sequential, so its calls cannot all be batched at once. Instead every open episode's
next request joins the current wave; once no new request has arrived for `collect_s`, the wave is
submitted as a batch. When its results come back, each waiting episode gets its reply, advances, and its
next request joins the next wave. Above this model sits the response cache, so results land in the
cache exactly as online replies would: with the same replies, a batch run and an online run write the
same bytes.

Every wave is a part of one persistent `BatchTask` in the run directory. A row's custom_id is derived
from the episode, the request and its ordinal within the episode, so a client killed while a wave is
running resumes by waiting for that wave (or taking its downloaded results) instead of paying twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from envsim.canonical import stable_hash
from envsim.errors import ModelError
from envsim.models.base import ChatModel, ModelRequest, ModelResponse
from envsim.models.batch.backend import BatchBackend, RowResult
from envsim.models.batch.spec import BackendSpec
from envsim.models.batch.task import BatchTask

log = logging.getLogger(__name__)


@dataclass
class WaveStats:
    """What a progress display shows: waves submitted, rows in them, and how the latest batches stand."""

    waves: int = 0
    rows_submitted: int = 0
    rows_answered: int = 0
    rows_failed: int = 0
    batch_states: dict[str, int] | None = None

    def describe(self, name: str) -> str:
        states = ", ".join(f"{count} {state}" for state, count in sorted((self.batch_states or {}).items()))
        return (
            f"batch {name}: {self.waves} wave(s), {self.rows_submitted:,} rows submitted, "
            f"{self.rows_answered:,} answered, {self.rows_failed:,} failed" + (f"; batches: {states}" if states else "")
        )


def wave_models(model: ChatModel) -> list[BatchWaveModel]:
    """The batch wave models inside a model stack (wrappers expose `inner`)."""
    found: list[BatchWaveModel] = []
    current: ChatModel | None = model
    while current is not None:
        if isinstance(current, BatchWaveModel):
            found.append(current)
        current = getattr(current, "inner", None)
    return found


@dataclass
class _Waiting:
    request: ModelRequest
    future: asyncio.Future[ModelResponse]


class BatchWaveModel(ChatModel):
    """A ChatModel whose calls are answered through a batch API, in waves (see the module docstring)."""

    def __init__(
        self,
        backend: BatchBackend,
        spec: BackendSpec,
        work_dir: Path,
        *,
        name: str,
        collect_s: float = 0.5,
        poll_interval_s: float = 30.0,
        max_attempts: int = 3,
    ) -> None:
        self.name = name  # the online model's name: cache keys and traces do not change
        self.backend = backend
        self._work_dir = work_dir
        self._spec = spec
        self._max_attempts = max_attempts
        self._task: BatchTask | None = None
        self.collect_s = collect_s
        self.poll_interval_s = poll_interval_s
        self.stats = WaveStats()
        self._ordinals: dict[tuple[str, str], int] = defaultdict(int)
        self._waiting: dict[str, list[_Waiting]] = {}
        self._unsent: list[str] = []
        self._pending_requests: dict[str, ModelRequest] = {}
        self._last_arrival = 0.0
        self._known: dict[str, RowResult] = {}
        self._loop_task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    @property
    def task(self) -> BatchTask:
        """The run's batch task for this model, opened on first use (a resumed run finds its waves)."""
        if self._task is None:
            task_name = "wave-" + stable_hash(["envsim-batch", self.name])[:12]
            self._task = BatchTask.create(
                self._work_dir,
                task_name,
                self._spec,
                max_attempts=self._max_attempts,
                poll_interval_s=self.poll_interval_s,
            )
            self._task._backend = self.backend
            self._task.collect_settled = True
            self._known = self._task.downloaded_results()  # results an interrupted client downloaded
        return self._task

    def _custom_id(self, request: ModelRequest) -> str:
        key = request.canonical_key(self.name)
        episode = request.context.episode_id or ""
        ordinal = self._ordinals[(episode, key)]
        self._ordinals[(episode, key)] += 1
        return stable_hash([episode, key, ordinal])[:32]

    async def generate(self, request: ModelRequest) -> ModelResponse:
        custom_id = self._custom_id(request)
        task = self.task
        known = self._known.get(custom_id)
        if known is not None and known.ok:
            return self._response(known, request)
        future: asyncio.Future[ModelResponse] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(custom_id, []).append(_Waiting(request, future))
        row = task.status.rows.get(custom_id)
        if row is None:
            if custom_id not in self._pending_requests:
                self._unsent.append(custom_id)
                self._pending_requests[custom_id] = request
        elif row.outcome is not None:
            row.outcome, row.attempts = None, 0  # failed for an earlier client: this one tries again
        # else: in a batch an earlier client submitted; wait for it instead of paying twice
        self._last_arrival = time.monotonic()
        if self._loop_task is None or self._loop_task.done():
            self._loop_task = asyncio.get_running_loop().create_task(self._dispatch())
        self._wake.set()
        return await future

    async def _dispatch(self) -> None:
        """One loop does every task operation, so the task's state has one writer only."""
        last_poll = 0.0
        try:
            while self._waiting:
                now = time.monotonic()
                active = any(p.active for p in self.task.status.parts)
                if self._unsent and now - self._last_arrival >= self.collect_s:
                    await self._submit_wave()
                    last_poll = time.monotonic()
                elif not self._unsent and not active and self._retry_rows():
                    await self.task.submit()  # failed or expired rows, again
                    last_poll = time.monotonic()
                elif active and now - last_poll >= self.poll_interval_s:
                    await self.task.refresh()
                    last_poll = time.monotonic()
                    self._deliver(self.task.take_settled())
                    self.stats.batch_states = _states(self.task)
                else:
                    self._wake.clear()
                    wait = self.collect_s if self._unsent else max(0.01, self.poll_interval_s - (now - last_poll))
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), timeout=wait)
        except Exception as exc:  # the wave machinery failed: every waiting call learns why
            for waiters in self._waiting.values():
                for waiting in waiters:
                    if not waiting.future.done():
                        waiting.future.set_exception(exc)
            self._waiting.clear()
            raise

    def _retry_rows(self) -> bool:
        return any(row.outcome is None and row.part is None for row in self.task.status.rows.values())

    async def _submit_wave(self) -> None:
        ids, self._unsent = self._unsent, []
        self.task.add_many((self._pending_requests.pop(custom_id), custom_id) for custom_id in ids)
        await self.task.submit()
        self.stats.waves += 1
        self.stats.rows_submitted += len(ids)
        log.info("batch wave %d: %d request(s) submitted", self.stats.waves, len(ids))

    def _deliver(self, results: list[RowResult]) -> None:
        for result in results:
            row = self.task.status.rows[result.custom_id]
            if not result.ok and row.outcome is None:
                continue  # will be retried
            self._known[result.custom_id] = result
            for waiting in self._waiting.pop(result.custom_id, []):
                if waiting.future.done():
                    continue
                if result.ok:
                    self.stats.rows_answered += 1
                    try:
                        waiting.future.set_result(self._response(result, waiting.request))
                    except ModelError as exc:
                        waiting.future.set_exception(exc)
                else:
                    self.stats.rows_failed += 1
                    waiting.future.set_exception(
                        ModelError(
                            f"{self.name}: the batch request failed after {row.attempts} attempt(s): {result.error}",
                            endpoint=self.name,
                        )
                    )

    def _response(self, result: RowResult, request: ModelRequest) -> ModelResponse:
        response = self.backend.parse(result.body or {}, request)
        usage = response.usage.model_copy(update={"batch_requests": 1})
        return response.model_copy(update={"usage": usage})

    async def aclose(self) -> None:
        if self._loop_task is not None and not self._loop_task.done():
            self._loop_task.cancel()
        await self.backend.aclose()


def _states(task: BatchTask) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for part in task.status.parts:
        counts[part.state] += 1
    return dict(counts)


def batch_wave_model(
    provider: ChatModel,
    work_dir: Path,
    *,
    collect_s: float = 0.5,
    poll_interval_s: float = 30.0,
    max_attempts: int = 3,
) -> BatchWaveModel:
    """The batch-mode stand-in for an online provider model (OpenAI-compatible or Anthropic)."""
    from envsim.errors import ConfigError
    from envsim.models.anthropic_provider import AnthropicChatModel
    from envsim.models.batch.anthropic_batch import AnthropicBatchBackend
    from envsim.models.batch.openai_batch import OpenAIBatchBackend
    from envsim.models.openai_provider import OpenAIChatModel

    backend: BatchBackend
    if isinstance(provider, OpenAIChatModel):
        backend = OpenAIBatchBackend(provider)
        spec = BackendSpec(
            provider="openai", model=provider.model, base_url=provider.base_url, api_key_env=provider.api_key_env
        )
    elif isinstance(provider, AnthropicChatModel):
        backend = AnthropicBatchBackend(provider)
        spec = BackendSpec(
            provider="anthropic", model=provider.model, base_url=provider.base_url, api_key_env=provider.api_key_env
        )
    else:
        raise ConfigError(
            f"batch mode needs an OpenAI or Anthropic model; {provider.name} has no batch API",
            location="inference_config.batch",
            hint="use openai:/anthropic: models for the batched roles, or list only those roles in batch.roles",
        )
    return BatchWaveModel(
        backend,
        spec,
        work_dir,
        name=provider.name,
        collect_s=collect_s,
        poll_interval_s=poll_interval_s,
        max_attempts=max_attempts,
    )

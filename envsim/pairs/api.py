"""The Python API of pairs jobs, withpi-style and synchronous:

    job = start_pairs_job(seeds, 50, model="openai:gpt-4o-mini", system_prompt=APP_PROMPT)
    get_job(job.job_id).data            # the pairs so far (grows while the job runs)
    cancel_job(job.job_id)
    wait(job.job_id, timeout=600)       # -> JobStatus, once DONE / ERROR / CANCELLED

Jobs run in a background thread's event loop in this process and live in `jobs_dir` (default
`runs/pairs`). `get_job`, `cancel_job` and `wait` also work on jobs of other processes (`envsim pairs`,
`envsim serve`) in the same directory: they read and mark the job on disk.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterable, Mapping
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from envsim.models.base import ChatModel
from envsim.pairs.jobs import PairsJobService, job_path, read_job, request_cancel, wait_for
from envsim.pairs.runner import PairsModels
from envsim.pairs.types import Example, ExplorationMode, JobStatus, PairsRequest

DEFAULT_JOBS_DIR = Path("runs/pairs")
T = TypeVar("T")


class _BackgroundLoop:
    """One daemon thread running an event loop, where this process's jobs run."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="envsim-pairs-jobs", daemon=True)
        self.thread.start()
        self.services: dict[str, PairsJobService] = {}  # job id -> the service running it
        self._watchers: set[asyncio.Task[None]] = set()

    def keep(self, task: asyncio.Task[None]) -> None:
        self._watchers.add(task)  # a reference, so the task is not garbage-collected mid-run
        task.add_done_callback(self._watchers.discard)

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        return future.result(timeout)


_background: _BackgroundLoop | None = None
_background_lock = threading.Lock()


def _loop() -> _BackgroundLoop:
    global _background
    with _background_lock:
        if _background is None:
            _background = _BackgroundLoop()
        return _background


def build_pairs_models(
    model: ChatModel | str,
    response_model: ChatModel | str | None = None,
    *,
    cache_dir: str | Path | None = None,
    base_dir: str | Path | None = None,
) -> PairsModels:
    """Generator and responder stacks (retry, limits, breaker, usage, and the response cache in
    `cache_dir` when given); model strings as everywhere in envsim (`provider:model[@base_url]`)."""
    from envsim.models.cache import ResponseCache
    from envsim.models.stack import ModelPolicies, build_model_stack

    policies = ModelPolicies(cache=ResponseCache(cache_dir) if cache_dir is not None else None)
    generator = build_model_stack(model, policies=policies, base_dir=base_dir, location="--model")
    if response_model is None:
        return PairsModels(generator=generator, responder=generator, cache=policies.cache)
    responder = build_model_stack(response_model, policies=policies, base_dir=base_dir, location="--response-model")
    return PairsModels(generator=generator, responder=responder, cache=policies.cache)


def start_pairs_job(
    seeds: Iterable[Example | Mapping[str, str]],
    num_pairs_to_generate: int,
    *,
    model: ChatModel | str,
    response_model: ChatModel | str | None = None,
    application_description: str | None = None,
    system_prompt: str | None = None,
    batch_size: int = 5,
    num_shots: int = 5,
    exploration_mode: ExplorationMode | str = ExplorationMode.BALANCED,
    run_parallel_batches: bool = False,
    seed: int = 0,
    jobs_dir: str | Path = DEFAULT_JOBS_DIR,
) -> JobStatus:
    """Start a job and return its status at once (QUEUED or RUNNING); the job runs in the background."""
    request = PairsRequest(
        seeds=[s if isinstance(s, Example) else Example.model_validate(dict(s)) for s in seeds],
        num_pairs_to_generate=num_pairs_to_generate,
        application_description=application_description,
        system_prompt=system_prompt,
        batch_size=batch_size,
        num_shots=num_shots,
        exploration_mode=ExplorationMode(exploration_mode),
        run_parallel_batches=run_parallel_batches,
        seed=seed,
    )
    background = _loop()
    models = build_pairs_models(model, response_model, cache_dir=Path(jobs_dir) / ".envsim_cache")

    async def start() -> JobStatus:
        service = PairsJobService(jobs_dir, models)
        status = await service.start(request)
        background.services[status.job_id] = service
        background.keep(asyncio.create_task(_close_when_done(service, status.job_id, models)))
        return status

    return background.run(start())


async def _close_when_done(service: PairsJobService, job_id: str, models: PairsModels) -> None:
    """Release the job's models (connections, the response cache's pending writes) once it ends."""
    try:
        await service.wait(job_id)
    finally:
        await close_pairs_models(models)


async def close_pairs_models(models: PairsModels) -> None:
    await models.generator.aclose()
    if models.responder is not models.generator:
        await models.responder.aclose()
    if models.cache is not None:
        models.cache.close()


def get_job(job_id: str, *, jobs_dir: str | Path = DEFAULT_JOBS_DIR) -> JobStatus:
    return read_job(job_path(Path(jobs_dir), job_id))


def list_jobs(*, jobs_dir: str | Path = DEFAULT_JOBS_DIR) -> list[JobStatus]:
    from envsim.pairs.jobs import iter_job_paths

    return [read_job(path, include_data=False) for path in iter_job_paths(Path(jobs_dir))]


def cancel_job(job_id: str, *, jobs_dir: str | Path = DEFAULT_JOBS_DIR) -> JobStatus:
    """Stop a job: at once when it runs in this process, else at its next batch boundary."""
    path = job_path(Path(jobs_dir), job_id)
    service = _background.services.get(job_id) if _background is not None else None
    if service is not None:
        return _loop().run(service.cancel(job_id))
    request_cancel(path)
    return read_job(path)


def wait(job_id: str, timeout: float | None = None, *, jobs_dir: str | Path = DEFAULT_JOBS_DIR) -> JobStatus:
    """Block until the job is DONE, ERROR or CANCELLED; TimeoutError after `timeout` seconds."""
    path = job_path(Path(jobs_dir), job_id)
    return asyncio.run(wait_for(path, timeout=timeout))


async def run_pairs(
    request: PairsRequest,
    out_dir: str | Path,
    models: PairsModels,
    *,
    force: bool = False,
    command_line: list[str] | None = None,
) -> JobStatus:
    """Run (or resume) a pairs job in the foreground in run directory `out_dir`; returns its final status.
    A different request for an existing directory is refused unless `force` (a larger N is the same job)."""
    from envsim.pairs.runner import PairsJobRunner, job_manifest
    from envsim.recording.run_dir import RunDirectory

    manifest = job_manifest(request, models.names(), command_line)
    with RunDirectory.open(out_dir, manifest=manifest, force=force) as run:
        await PairsJobRunner(request, run, models).run_to_end()
    return read_job(Path(out_dir))

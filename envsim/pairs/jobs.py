"""Pairs jobs in a jobs directory: start, read, cancel, wait, and resume after a restart.

A job is a run directory `<jobs_dir>/<job_id>/` (see envsim.pairs.runner for its files), so everything
about a job is on disk: `read_job` works from any process, a cancel is a marker file the job checks
between batches, and `PairsJobService.resume_unfinished` restarts every job left QUEUED or RUNNING by a
previous process. The service runs jobs as tasks of the running event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from envsim.errors import EnvsimError
from envsim.pairs.runner import (
    CANCEL_FILE,
    JOB_KIND,
    PairsJobRunner,
    PairsModels,
    job_manifest,
    pair_of,
    read_diversity,
    request_from_manifest,
)
from envsim.pairs.types import JobState, JobStatus, PairsRequest
from envsim.recording.manifest import RunManifest
from envsim.recording.run_dir import MANIFEST_FILE, RunDirectory, read_manifest

_JOB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class JobNotFound(EnvsimError):
    """No pairs job with this id in the jobs directory."""


def job_path(jobs_dir: Path, job_id: str) -> Path:
    """The job's directory; ids are single path segments (no traversal out of the jobs directory)."""
    if not _JOB_ID.match(job_id) or ".." in job_id:
        raise JobNotFound(f"no pairs job {job_id!r}", hint="job ids are the names of directories in the jobs directory")
    path = jobs_dir / job_id
    if not (path / MANIFEST_FILE).is_file():
        raise JobNotFound(f"no pairs job {job_id!r} in {jobs_dir}", hint="list the jobs to see their ids")
    return path


def read_job(path: Path, *, include_data: bool = True) -> JobStatus:
    """A job's status as recorded on disk (data so far included)."""
    run = RunDirectory.open(path, manifest=None)
    if run.manifest.config.get("kind") != JOB_KIND:
        raise JobNotFound(f"{path} is a run directory, but not of a pairs job")
    status = run.status()
    detail = list(status.detailed_status)
    if status.is_stale():
        detail.append("the process running this job is gone; resume it (rerun `envsim pairs`, or restart the service)")
    data = [pair_of(trace) for trace in run.traces()] if include_data else None
    return JobStatus(
        job_id=path.name,
        state=status.state,
        detailed_status=detail,
        data=data,
        # status.total, not the manifest: a resume with a larger N keeps the first manifest
        pairs_requested=status.total or int(run.manifest.config.get("num_samples", 0)) or None,
        diversity=read_diversity(path),
    )


def iter_job_paths(jobs_dir: Path) -> Iterator[Path]:
    if not jobs_dir.is_dir():
        return
    for path in sorted(jobs_dir.iterdir()):
        if (path / MANIFEST_FILE).is_file():
            try:
                if read_manifest(path).config.get("kind") == JOB_KIND:
                    yield path
            except EnvsimError:
                continue  # a broken directory is not a job to list


def request_cancel(path: Path) -> None:
    """Ask the job to stop at its next batch boundary, from any process."""
    (path / CANCEL_FILE).touch()


async def wait_for(path: Path, *, timeout: float | None = None, poll: float = 0.2) -> JobStatus:
    """Poll the job's status until it is terminal; raises TimeoutError after `timeout` seconds."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        status = read_job(path, include_data=False)
        if status.state.terminal:
            return read_job(path)
        if deadline is not None and time.monotonic() >= deadline:
            raise TimeoutError(f"pairs job {path.name} is still {status.state.value} after {timeout}s")
        await asyncio.sleep(poll)


@dataclass
class _Handle:
    task: asyncio.Task[None]
    runner: PairsJobRunner | None = None


class PairsJobService:
    """Runs pairs jobs in `jobs_dir` on the current event loop, with `models` (shared by every job)."""

    def __init__(self, jobs_dir: str | Path, models: PairsModels, *, max_parallel_batches: int = 4) -> None:
        self.jobs_dir = Path(jobs_dir)
        self.models = models
        self.max_parallel_batches = max_parallel_batches
        self._handles: dict[str, _Handle] = {}

    async def start(self, request: PairsRequest, *, job_id: str | None = None) -> JobStatus:
        job_id = job_id or f"pairs-{uuid.uuid4().hex[:12]}"
        path = self.jobs_dir / job_id
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        # Created (QUEUED) on disk before the task starts: the job survives a crash from here on.
        with RunDirectory.open(path, manifest=job_manifest(request, self.models.names())) as run:
            run.set_status(JobState.QUEUED, total=request.num_pairs_to_generate, detail=["queued"])
        self._launch(job_id)
        return read_job(path)

    def get(self, job_id: str) -> JobStatus:
        return read_job(job_path(self.jobs_dir, job_id))

    def list(self, state: JobState | None = None) -> list[JobStatus]:
        jobs = [read_job(path, include_data=False) for path in iter_job_paths(self.jobs_dir)]
        return [job for job in jobs if state is None or job.state is state]

    async def cancel(self, job_id: str) -> JobStatus:
        path = job_path(self.jobs_dir, job_id)
        if not read_job(path, include_data=False).state.terminal:
            request_cancel(path)
            handle = self._handles.get(job_id)
            if handle is not None and not handle.task.done():
                handle.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await handle.task
                if not read_job(path, include_data=False).state.terminal:  # cancelled before it began
                    self._mark(path, JobState.CANCELLED, "cancelled before it started")
        return read_job(path)

    async def wait(self, job_id: str, timeout: float | None = None) -> JobStatus:
        path = job_path(self.jobs_dir, job_id)
        handle = self._handles.get(job_id)
        if handle is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(handle.task), timeout)
        return await wait_for(path, timeout=timeout)

    async def resume_unfinished(self) -> list[str]:
        """Restart the jobs a previous process left QUEUED or RUNNING; returns their ids."""
        resumed = []
        for path in iter_job_paths(self.jobs_dir):
            if path.name in self._handles:
                continue
            state = read_job(path, include_data=False).state
            if not state.terminal:
                self._launch(path.name)
                resumed.append(path.name)
        return resumed

    def running(self) -> list[str]:
        return [job_id for job_id, handle in self._handles.items() if not handle.task.done()]

    async def aclose(self) -> None:
        """Stop every running job for a restart: each is left QUEUED on disk and resumes later."""
        handles = [h for h in self._handles.values() if not h.task.done()]
        for handle in handles:
            if handle.runner is not None:
                handle.runner.shutdown = True
            handle.task.cancel()
        for handle in handles:
            with contextlib.suppress(asyncio.CancelledError):
                await handle.task

    def _launch(self, job_id: str) -> None:
        handle = _Handle(task=asyncio.get_running_loop().create_task(self._run(job_id), name=f"pairs-job-{job_id}"))
        self._handles[job_id] = handle

    async def _run(self, job_id: str) -> None:
        path = self.jobs_dir / job_id
        request = request_from_manifest(read_manifest(path))
        manifest: RunManifest = job_manifest(request, self.models.names())
        # force: the operator may have restarted the service with other models; the job continues with them
        with RunDirectory.open(path, manifest=manifest, force=True) as run:
            runner = PairsJobRunner(request, run, self.models, max_parallel_batches=self.max_parallel_batches)
            self._handles[job_id].runner = runner
            try:
                await runner.run_to_end()
            except Exception as exc:  # a bug or a broken directory: fail visibly instead of hanging RUNNING
                run.set_status(JobState.ERROR, detail=[*runner.messages, f"failed: {type(exc).__name__}: {exc}"])

    def _mark(self, path: Path, state: JobState, line: str) -> None:
        request = request_from_manifest(read_manifest(path))
        with RunDirectory.open(path, manifest=job_manifest(request, self.models.names()), force=True) as run:
            detail = [*run.status().detailed_status, line]
            run.finalize(state, detail=detail)

"""The synchronous Python API: start_pairs_job / get_job / cancel_job / wait, jobs in the background."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from envsim.models.base import ModelRequest
from envsim.pairs import cancel_job, get_job, list_jobs, start_pairs_job, wait
from envsim.pairs.jobs import JobNotFound
from envsim.pairs.types import Example, JobState
from envsim.testing import FunctionModel
from tests.pairs.conftest import generator_model
from tests.pairs.fake_generator import reply


def test_start_returns_at_once_and_wait_gives_the_finished_job(tmp_path: Path, seeds: list[Example]) -> None:
    job = start_pairs_job(
        [s.model_dump() for s in seeds],
        6,
        model=generator_model(delay=0.05),
        exploration_mode="CREATIVE",
        jobs_dir=tmp_path,
    )
    assert job.state in (JobState.QUEUED, JobState.RUNNING) and job.pairs_requested == 6
    done = wait(job.job_id, timeout=30, jobs_dir=tmp_path)
    assert done.state is JobState.DONE and len(done.data or []) == 6
    assert get_job(job.job_id, jobs_dir=tmp_path).data == done.data
    assert [j.job_id for j in list_jobs(jobs_dir=tmp_path)] == [job.job_id]
    with pytest.raises(JobNotFound):
        get_job("pairs-nope", jobs_dir=tmp_path)


def test_cancel_job_stops_a_job_running_in_this_process(tmp_path: Path, seeds: list[Example]) -> None:
    started = threading.Event()

    async def stuck(request: ModelRequest) -> str:
        started.set()
        await asyncio.sleep(60)  # never answers in time: only a cancel ends the job
        return reply(request)

    job = start_pairs_job(seeds, 5, model=FunctionModel(stuck), jobs_dir=tmp_path)
    assert started.wait(10)
    cancelled = cancel_job(job.job_id, jobs_dir=tmp_path)
    assert cancelled.state is JobState.CANCELLED and cancelled.data == []


def test_wait_times_out_on_a_job_still_running(tmp_path: Path, seeds: list[Example]) -> None:
    job = start_pairs_job(seeds, 50, model=generator_model(delay=0.5), jobs_dir=tmp_path)
    try:
        with pytest.raises(TimeoutError, match="still"):
            wait(job.job_id, timeout=0.2, jobs_dir=tmp_path)
    finally:
        assert cancel_job(job.job_id, jobs_dir=tmp_path).state is JobState.CANCELLED

"""Execute a `RunPlan`: simulate its episodes into its run directory, write the dataset, summarize.

One process simulates and records; with `plan.processes > 1` worker processes simulate (each builds
its own simulation from the plan) and this process only records, so the output is the same. Executing
a plan again resumes its run directory: finished episodes are skipped, never repeated or duplicated.
"""

from __future__ import annotations

import asyncio
import time

from envsim.recording import RunDirectory, RunManifest
from envsim.recording.clean import infrastructure_error_episodes
from envsim.recording.output_owner import check_output_owner
from envsim.runs.dataset import write_run_dataset
from envsim.runs.plan import RunPlan
from envsim.runs.simulator import CONVERSATION_ROLES, ProcessSimulation, build_simulation, worker_simulation
from envsim.runs.summary import RunSummary, summarize
from envsim.scenarios.live import evaluate_run, write_evaluation
from envsim.simulation.processes import ProcessPool
from envsim.simulation.runner import ProgressCallback, Runner, RunProgress


async def execute_plan(
    plan: RunPlan, *, on_progress: ProgressCallback | None = None, status_interval_s: float = 2.0
) -> RunSummary:
    """Run (or resume) `plan` into `plan.run_dir` and write its dataset file; see `envsim.run_config`
    for what it raises. `on_progress` gets a `RunProgress` after every episode and status tick."""
    started = time.perf_counter()
    pool: ProcessPool | None = None
    try:
        if plan.processes > 1:
            pool = ProcessPool(worker_simulation, {"plan": plan}, list(plan.worker_slots))
            if pool.start_method == "spawn":
                pool.start()  # first: the workers import and build their models while this process prepares
        sim = await build_simulation(plan)
        if pool is not None and not pool.started:
            sim.models.preload()  # imported once here, inherited by every forked worker
            pool.start()
        try:
            summary = await _record_episodes(plan, sim, pool, on_progress=on_progress, interval=status_interval_s)
        finally:
            await sim.aclose()
    finally:
        if pool is not None:
            await pool.aclose()
    summary.elapsed_s = time.perf_counter() - started
    return summary


async def _record_episodes(
    plan: RunPlan,
    sim: ProcessSimulation,
    pool: ProcessPool | None,
    *,
    on_progress: ProgressCallback | None,
    interval: float,
) -> RunSummary:
    """Record the plan's episodes, simulated here (`sim`) or by the worker processes (`pool`)."""
    started = time.perf_counter()
    cfg = plan.config
    manifest = RunManifest.create(
        plan.manifest_config(),
        seed=cfg.seed,
        models={role: sim.models[role].name for role in (*CONVERSATION_ROLES, "environment")},
    )
    on_progress = _with_batch_notes(on_progress, sim)
    passthrough = cfg.strategy_params.passthrough_attributes
    if plan.dataset is not None:
        check_output_owner(plan.dataset, plan.run_dir, force=plan.force)  # before simulating anything
    live = plan.scenario_run
    with RunDirectory.open(plan.run_dir, manifest=manifest, force=plan.force) as run_dir:
        runner = Runner(
            plan.episodes,
            pool.simulate if pool is not None else sim.simulate,
            run_dir,
            num_workers=plan.open_episodes,
            total=plan.total,
            post_process=live.check_expectations if live else None,
            on_progress=on_progress,
            status_interval_s=interval,
            usage=sim.models.tracker if pool is None else None,
        )
        try:
            progress = await runner.run()
        except asyncio.CancelledError:
            # A cancelled run still leaves the dataset of its finished episodes.
            write_run_dataset(plan.dataset, run_dir, passthrough)
            raise
        report = write_run_dataset(plan.dataset, run_dir, passthrough)
        infrastructure = (
            report.skipped_infrastructure if report else infrastructure_error_episodes(run_dir.traces(states=False))
        )
        status = run_dir.status()
        evaluation = None
        if live is not None:
            evaluation = evaluate_run(run_dir.traces(include_failed=True), list(plan.episodes))
            write_evaluation(plan.run_dir, evaluation)
    summary = summarize(
        plan.run_dir,
        status.state,
        total=plan.total,
        progress=progress,
        done=status.done,
        failed=status.failed,
        started=started,
        report=report,
    )
    summary.evaluation = evaluation
    summary.infrastructure_error_episodes = infrastructure
    summary.validation_fallbacks = dict(sim.validation_fallbacks)
    return summary


def _with_batch_notes(on_progress: ProgressCallback | None, sim: ProcessSimulation) -> ProgressCallback | None:
    """Batch runs: the progress display also shows waves, rows and batch states."""
    from envsim.models.batch.waves import wave_models

    waves = [wave for stack in sim.models.stacks for wave in wave_models(stack)]
    if on_progress is None or not waves:
        return on_progress

    def update(progress: RunProgress) -> None:
        progress.notes = [wave.stats.describe(wave.name) for wave in waves]
        on_progress(progress)

    return update

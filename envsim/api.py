"""Public entry points: run a config end to end.

    summary = envsim.run("examples/support_chat.yaml", out_dir="runs/support")      # sync
    summary = await envsim.run_config(config, out_dir=..., num_samples=10)          # async

Both build the run once into a `RunPlan` (`envsim.runs.plan_run`) and execute it
(`envsim.runs.execute_plan`); use those two directly to inspect a plan before running it. Re-running on
the same `out_dir` resumes.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from envsim.config.models import SynthConfig
from envsim.event_loop import run_async
from envsim.runs.execute import execute_plan
from envsim.runs.plan import plan_run
from envsim.runs.summary import RunSummary
from envsim.simulation.runner import ProgressCallback

__all__ = ["RunSummary", "run", "run_config"]


async def run_config(
    config: str | Path | SynthConfig,
    *,
    out_dir: str | Path | None = None,
    model_override: str | None = None,
    overrides: list[str] | None = None,
    num_samples: int | None = None,
    seed: int | None = None,
    no_cache: bool = False,
    force: bool = False,
    on_progress: ProgressCallback | None = None,
    status_interval_s: float = 2.0,
    trials: int | None = None,
    include_scripted: bool = False,
    processes: int | None = None,
    batch: bool = False,
) -> RunSummary:
    """Run (or resume) a config into `out_dir` and write its dataset file; see `RunSummary`.

    Scenario runs (a scenario catalog file, or a config with `scenario_catalog_path`): each unscripted
    scenario (every scenario with `include_scripted`) is simulated `trials` times (default 1), its `expect`
    evaluated into the trace's checks, and the scores written to `evaluation.json` and `RunSummary.evaluation`;
    `num_samples` then limits the run to the first N scenarios.

    Raises ConfigError(s) for config problems, RunError when `out_dir` belongs to a different config
    (unless `force`), ModelAuthError / CircuitOpenError when the run had to stop (status ERROR), and
    CancelledError when cancelled (status CANCELLED; run again to resume).

    `processes` (default `remote_params.num_processes`) > 1 simulates in that many worker processes,
    each with its share of the open episodes and rate budgets; this process records (same output).

    `batch` (or `inference_config.batch`) sends the model calls through the providers' batch APIs in
    waves (docs/batch.md): the same bytes out for the same replies, at the batch price.
    """
    started = time.perf_counter()
    plan = plan_run(
        config,
        out_dir=out_dir,
        model_override=model_override,
        overrides=overrides,
        num_samples=num_samples,
        seed=seed,
        no_cache=no_cache,
        force=force,
        trials=trials,
        include_scripted=include_scripted,
        processes=processes,
        batch=batch,
    )
    summary = await execute_plan(plan, on_progress=on_progress, status_interval_s=status_interval_s)
    summary.elapsed_s = time.perf_counter() - started
    return summary


def run(config: str | Path | SynthConfig, **kwargs: Any) -> RunSummary:
    """Synchronous `run_config` (same keyword arguments), for scripts and notebooks without a loop."""
    return run_async(run_config(config, **kwargs))

"""How a run went: `RunSummary`, built from the runner's progress, the run directory and the dataset report."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from envsim.models.base import Usage
from envsim.recording.dataset import DatasetReport
from envsim.recording.status import RunState
from envsim.scenarios.evaluation import Evaluation
from envsim.simulation.runner import RunProgress


@dataclass
class RunSummary:
    """How a run went. Counts are for the whole run directory (earlier invocations included)."""

    run_dir: Path
    state: RunState
    total: int
    done: int
    failed: int
    skipped: int  # finished before this invocation (resume)
    elapsed_s: float
    usage: Usage
    usage_by_role: dict[str, Usage] = field(default_factory=dict)
    output_path: Path | None = None
    dataset_written: int = 0
    recent_errors: list[str] = field(default_factory=list)
    evaluation: Evaluation | None = None  # scenario runs: success per scenario and pass^k (evaluation.json)
    # Successful episodes with an infrastructure error (envsim or a model failed in a step): in no dataset.
    infrastructure_error_episodes: list[str] = field(default_factory=list)
    # Environment id -> why its state schema is validated in full rather than incrementally (docs/state.md)
    validation_fallbacks: dict[str, str] = field(default_factory=dict)
    # Samples in the dataset with a generated attribute cut off at the token limit (on_truncation: flag).
    truncated_attribute_episodes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """A run succeeded when it completed and produced at least one successful episode."""
        return self.state is RunState.DONE and (self.done > 0 or self.total == 0)


def summarize(
    run_path: Path,
    state: RunState,
    *,
    total: int,
    progress: RunProgress,
    done: int,
    failed: int,
    started: float,
    report: DatasetReport | None,
) -> RunSummary:
    """The summary of one invocation; `started` is its `time.perf_counter()` at the start."""
    return RunSummary(
        run_dir=run_path,
        state=state,
        total=total,
        done=done,
        failed=failed,
        skipped=progress.skipped,
        elapsed_s=time.perf_counter() - started,
        usage=progress.usage,
        usage_by_role=dict(progress.usage_by_role),
        output_path=report.path if report else None,
        dataset_written=report.written if report else 0,
        truncated_attribute_episodes=list(report.truncated_attributes) if report else [],
        recent_errors=list(progress.last_errors),
    )

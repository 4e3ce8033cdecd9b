"""Recording: trace types, the run directory (write, resume, read), the dataset file, and the invariant check.

Exports live in `envsim.recording.exporters`.
"""

from envsim.recording.clean import clean_problem, clean_traces
from envsim.recording.dataset import DatasetReport, write_dataset
from envsim.recording.manifest import RunManifest, redact_secrets
from envsim.recording.run_dir import RunDirectory, load_trace
from envsim.recording.status import RunState, RunStatus
from envsim.recording.trace import EpisodeStatus, Plan, PlanTurn, StepRecord, TerminationReason, Trace
from envsim.recording.verify import verify_trace

__all__ = [
    "DatasetReport",
    "EpisodeStatus",
    "Plan",
    "PlanTurn",
    "RunDirectory",
    "RunManifest",
    "RunState",
    "RunStatus",
    "StepRecord",
    "TerminationReason",
    "Trace",
    "clean_problem",
    "clean_traces",
    "load_trace",
    "redact_secrets",
    "verify_trace",
    "write_dataset",
]

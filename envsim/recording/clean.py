"""What a clean episode is: the one notion every writer of training data uses.

An episode is clean when it finished successfully and no step of it has an *infrastructure* error, i.e.
an error produced by envsim or the model layer (the simulator gave no valid reply, a transport failure,
a timeout, a rejected state change). Such an error is not something
the real backend would answer, so a conversation holding one must never become a training example.
A *tool* error (order not found, invalid arguments, a refusal) is what the backend would say: it may
stay, and the exporters decide how it is trained (see `envsim.recording.exporters.error_turns`).

The dataset file (`output_path`), every export format and the Python API call `clean_problem`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from envsim.recording.trace import EpisodeStatus, StepRecord, Trace

FAILED = "failed"
INFRASTRUCTURE_ERROR = "infrastructure_error"

# Traces recorded before `error_kind` existed say only what went wrong; these phrases are envsim's own.
_LEGACY_INFRASTRUCTURE_PHRASES = ("gave no valid reply in",)


def is_infrastructure_error(step: StepRecord) -> bool:
    if step.error is None:
        return False
    if step.error_kind is not None:
        return step.error_kind == "infrastructure"
    return any(phrase in step.error for phrase in _LEGACY_INFRASTRUCTURE_PHRASES)


def infrastructure_errors(trace: Trace) -> list[StepRecord]:
    return [step for step in trace.steps if is_infrastructure_error(step)]


def tool_errors(trace: Trace) -> list[StepRecord]:
    """Failed steps whose error is the tool's own answer (what the real backend would say)."""
    return [step for step in trace.steps if step.error is not None and not is_infrastructure_error(step)]


def clean_problem(trace: Trace, *, include_failed: bool = False) -> str | None:
    """Why the episode is not clean training data (`failed` | `infrastructure_error`), or None.

    `include_failed` lets a failed episode through (exports' `--include-failed`); an infrastructure
    error never passes.
    """
    if trace.status is EpisodeStatus.FAILED and not include_failed:
        return FAILED
    if infrastructure_errors(trace):
        return INFRASTRUCTURE_ERROR
    return None


def infrastructure_error_episodes(traces: Iterable[Trace]) -> list[str]:
    """Episode ids of the successful episodes held back because of an infrastructure error."""
    return [t.episode_id for t in traces if t.status is EpisodeStatus.SUCCESS and infrastructure_errors(t)]


def clean_traces(traces: Iterable[Trace]) -> Iterator[Trace]:
    """The clean episodes among `traces`, for Python users building their own training data:
    `clean_traces(RunDirectory.open(path, manifest=None).traces())`."""
    return (trace for trace in traces if clean_problem(trace) is None)

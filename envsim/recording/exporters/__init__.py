"""Training-set exports of a run (`openai`, `hf`, `sharegpt`, `llamafactory`, `oumi` JSONL), with explicit filtering.

    report = export_run("runs/support", "train.jsonl", "openai")
    report.written, report.skipped  # {"failed": 3, "infrastructure_error": 1, ...}

Only clean episodes are exported (`envsim.recording.clean`). See docs/exports.md for each format, its
consumer and the exact filtering rules.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from envsim.errors import EnvsimError
from envsim.recording import jsonl
from envsim.recording.clean import INFRASTRUCTURE_ERROR
from envsim.recording.exporters.conversation import TrainingMessage, prepare_conversation
from envsim.recording.exporters.filters import ExportOptions, skip_reason
from envsim.recording.exporters.formats import EXPORT_FORMATS, ExportFormat, export_format
from envsim.recording.exporters.hf import decode_hf_row
from envsim.recording.run_dir import RunDirectory
from envsim.recording.trace import Trace


@dataclass
class ExportReport:
    format: str = ""
    written: int = 0
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> episodes left out
    kept_with_tool_errors: int = 0  # written episodes still showing a tool error (as {"error": ...})
    weighted_zero: int = 0  # assistant messages written with weight 0 (failed calls, `--error-turns weight0`)
    infrastructure_error_episodes: list[str] = field(default_factory=list)  # ids, for the user to look at
    path: Path | None = None

    @property
    def total_skipped(self) -> int:
        return sum(self.skipped.values())


def export_traces(
    traces: Iterable[Trace], out: str | os.PathLike[str], fmt: str, options: ExportOptions | None = None
) -> ExportReport:
    """Write the traces that pass the filters to `out` (atomically), in `fmt`; count the others by reason."""
    spec: ExportFormat = export_format(fmt)
    options = options or ExportOptions()
    spec.check_options(options)
    error_turns = spec.error_turns(options)
    report = ExportReport(format=fmt, path=Path(out))
    skipped: Counter[str] = Counter()

    def lines() -> Iterator[bytes]:
        for trace in traces:
            reason = skip_reason(trace, options)
            conversation: list[TrainingMessage] | str = reason or prepare_conversation(trace, options, error_turns)
            record = None if isinstance(conversation, str) else spec.build(trace, conversation, options)
            if record is not None and spec.reject is not None:
                conversation = spec.reject(record) or conversation
            if isinstance(conversation, str):
                skipped[conversation] += 1
                if conversation == INFRASTRUCTURE_ERROR:
                    report.infrastructure_error_episodes.append(trace.episode_id)
                continue
            assert record is not None
            report.written += 1
            report.kept_with_tool_errors += any(item.tool_error for item in conversation)
            report.weighted_zero += sum(item.weight == 0 for item in conversation)
            yield jsonl.dumps_line(record)

    try:
        jsonl.atomic_write_bytes(report.path, lines())
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise EnvsimError(f"cannot write {report.path}: {reason}", hint="choose another --out file") from exc
    report.skipped = dict(sorted(skipped.items()))
    return report


def export_run(
    run_dir: str | os.PathLike[str] | RunDirectory,
    out: str | os.PathLike[str],
    fmt: str,
    options: ExportOptions | None = None,
) -> ExportReport:
    """Export a run directory's episodes (failed ones are read too, so they are counted when left out)."""
    run = run_dir if isinstance(run_dir, RunDirectory) else RunDirectory.open(run_dir, manifest=None)
    return export_traces(run.traces(include_failed=True, states=False), out, fmt, options)  # no states needed


__all__ = [
    "EXPORT_FORMATS",
    "ExportOptions",
    "ExportReport",
    "decode_hf_row",
    "export_run",
    "export_traces",
]

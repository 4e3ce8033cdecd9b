"""Training-set exports of a run: `openai`, `hf` and `sharegpt` JSONL, with explicit filtering.

    report = export_run("runs/support", "train.jsonl", "openai")
    report.written, report.skipped  # {"failed": 3, "unrecovered_tool_error": 1, ...}

See docs/exports.md for each format and the exact filtering rules.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from envsim.errors import EnvsimError
from envsim.recording import jsonl
from envsim.recording.exporters.filters import (
    UNPARSEABLE_ARGUMENTS,
    ExportOptions,
    has_tool_error,
    has_unparseable_arguments,
    skip_reason,
)
from envsim.recording.exporters.hf import decode_hf_row, hf_record
from envsim.recording.exporters.openai_format import openai_record
from envsim.recording.exporters.sharegpt import sharegpt_record
from envsim.recording.run_dir import RunDirectory
from envsim.recording.trace import Trace

RecordBuilder = Callable[[Trace, ExportOptions], dict[str, Any]]
EXPORT_FORMATS: dict[str, RecordBuilder] = {"openai": openai_record, "hf": hf_record, "sharegpt": sharegpt_record}


@dataclass
class ExportReport:
    written: int = 0
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> episodes left out
    kept_with_tool_errors: int = 0  # written episodes that contain explicit tool error messages
    path: Path | None = None

    @property
    def total_skipped(self) -> int:
        return sum(self.skipped.values())


def _needs_object_arguments(fmt: str, options: ExportOptions) -> bool:
    return fmt == "sharegpt" or (fmt == "hf" and options.arguments == "object")


def export_traces(
    traces: Iterable[Trace], out: str | os.PathLike[str], fmt: str, options: ExportOptions | None = None
) -> ExportReport:
    """Write the traces that pass the filters to `out` (atomically), in `fmt`; count the others by reason."""
    if fmt not in EXPORT_FORMATS:
        raise EnvsimError(f"unknown export format {fmt!r}", hint=f"use one of: {', '.join(EXPORT_FORMATS)}")
    options = options or ExportOptions()
    build = EXPORT_FORMATS[fmt]
    report = ExportReport(path=Path(out))
    skipped: Counter[str] = Counter()

    def lines() -> Iterator[bytes]:
        for trace in traces:
            reason = skip_reason(trace, options)
            if reason is None and _needs_object_arguments(fmt, options) and has_unparseable_arguments(trace):
                reason = UNPARSEABLE_ARGUMENTS
            if reason is not None:
                skipped[reason] += 1
                continue
            report.written += 1
            report.kept_with_tool_errors += has_tool_error(trace)
            yield jsonl.dumps_line(build(trace, options))

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
    return export_traces(run.traces(include_failed=True), out, fmt, options)


__all__ = [
    "EXPORT_FORMATS",
    "ExportOptions",
    "ExportReport",
    "decode_hf_row",
    "export_run",
    "export_traces",
]

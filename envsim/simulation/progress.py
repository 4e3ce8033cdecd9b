"""Terminal display of a run: a live panel while it runs and a summary table at the end (rich).

`LiveRunDisplay.update` is a `Runner` progress callback (called after every finished episode and on every
status tick): it stores the latest snapshot and redraws at most four times a second, so a fast run never
spends its time repainting, and no display thread runs beside the event loop.
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import TYPE_CHECKING

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from envsim.models.base import Usage
from envsim.simulation.runner import RunProgress

MIN_REDRAW_S = 0.25  # at most 4 redraws a second

if TYPE_CHECKING:
    from envsim.runs.summary import RunSummary


def format_cost(usage: Usage) -> str:
    return "n/a (unknown price)" if usage.cost_usd is None else f"${usage.cost_usd:,.4f}"


def format_tokens(usage: Usage) -> str:
    text = f"{usage.input_tokens:,} in / {usage.output_tokens:,} out"
    if usage.cache_read_tokens:
        text += f" / {usage.cache_read_tokens:,} cache read"
    if usage.cache_hits:
        text += f" ({usage.cache_hits:,} cached replies)"
    if usage.batch_requests:
        text += f" ({usage.batch_requests:,} replies via batch APIs)"
    if usage.retries or usage.validation_retries:
        text += f" [{usage.retries:,} retried errors, {usage.validation_retries:,} re-asks]"
    return text


def progress_view(progress: RunProgress, title: str) -> RenderableType:
    total = progress.total
    finished = progress.finished + progress.skipped
    bar = ProgressBar(total=float(total or max(finished, 1)), completed=float(finished), width=40)
    head = Text.assemble((title, "bold"), f"  {finished}/{total if total is not None else '?'} episodes")
    counts = Text(
        f"done {progress.done}  failed {progress.failed}  in flight {progress.in_flight}"
        + (f"  resumed past {progress.skipped}" if progress.skipped else "")
        + f"  |  {progress.episodes_per_min:,.1f} episodes/min"
    )
    spend = Text(f"tokens {format_tokens(progress.usage)}  |  cost {format_cost(progress.usage)}")
    parts: list[RenderableType] = [head, bar, counts, spend, *(Text(note) for note in progress.notes)]
    if progress.last_errors:
        parts.append(Text("last failure: " + progress.last_errors[-1][:300], style="yellow"))
    return Group(*parts)


class LiveRunDisplay:
    def __init__(self, console: Console, title: str) -> None:
        self.title = title
        self._latest = RunProgress(total=None)
        # No auto-refresh thread: redrawn from `update` (every finished episode and every status tick),
        # so the process stays single-threaded and worker processes can be forked (see processes.py).
        self._live = Live(console=console, auto_refresh=False, get_renderable=self._render, transient=False)
        self._drawn = 0.0

    def _render(self) -> RenderableType:
        return progress_view(self._latest, self.title)

    def update(self, progress: RunProgress) -> None:
        self._latest = progress
        now = time.monotonic()
        if now - self._drawn >= MIN_REDRAW_S:
            self._drawn = now
            self._live.refresh()

    def __enter__(self) -> LiveRunDisplay:
        self._live.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._live.stop()
        if not self._live.console.is_terminal:
            # Rich leaves the last frame without a newline when it cannot redraw in place.
            self._live.console.line()


def summary_rows(summary: RunSummary) -> list[tuple[str, str, str | None]]:
    """The run summary as (what, value, style) rows: one source for the table and the plain lines."""
    rows: list[tuple[str, str, str | None]] = [
        ("episodes", f"{summary.done + summary.failed}/{summary.total}", None),
        ("succeeded", str(summary.done), None),
        ("failed", str(summary.failed), None),
    ]
    if summary.skipped:
        rows.append(("finished before resume", str(summary.skipped), None))
    rows.append(("time", f"{summary.elapsed_s:,.1f} s", None))
    new = summary.done + summary.failed - summary.skipped
    if summary.elapsed_s > 0 and new > 0:
        rows.append(("throughput", f"{60 * new / summary.elapsed_s:,.1f} episodes/min", None))
    rows.append(("tokens", format_tokens(summary.usage), None))
    for role, usage in sorted(summary.usage_by_role.items()):
        rows.append((f"  {role}", f"{usage.requests:,} requests, {format_tokens(usage)}", None))
    rows.append(("cost", format_cost(summary.usage), None))
    if summary.output_path is not None:
        rows.append(("dataset", f"{summary.output_path} ({summary.dataset_written} samples)", None))
    if summary.infrastructure_error_episodes:
        ids = summary.infrastructure_error_episodes
        rows.append(("infrastructure errors", f"{len(ids)} episodes left out: {_first_ids(ids)}", "yellow"))
    if summary.truncated_attribute_episodes:
        ids = summary.truncated_attribute_episodes
        note = (
            f"{len(ids)} samples kept with a generated attribute cut off at the token limit: {_first_ids(ids)} "
            "(raise inference_config.generation.max_new_tokens, or set on_truncation: reject)"
        )
        rows.append(("cut-off attributes", note, "yellow"))
    for env_id, reason in sorted(summary.validation_fallbacks.items()):
        rows.append(("full state validation", f"{env_id}: {reason}", "yellow"))
    # Point at the files that hold something: successes and failures are recorded apart.
    if summary.done or not summary.failed:
        rows.append(("traces", str(summary.run_dir / "traces.jsonl"), None))
    if summary.failed:
        rows.append(("failures", str(summary.run_dir / "failures.jsonl"), None))
    for error in summary.recent_errors[-3:]:
        rows.append(("recent failure", error[:300], "yellow"))
    return rows


def _first_ids(ids: list[str]) -> str:
    return ", ".join(ids[:5]) + (f", ... ({len(ids) - 5} more)" if len(ids) > 5 else "")


def summary_table(summary: RunSummary) -> Table:
    table = Table(title=f"run {summary.run_dir} — {summary.state}", title_justify="left", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    for what, value, style in summary_rows(summary):
        table.add_row(what, Text(value, style=style) if style else value)
    return table


def summary_lines(summary: RunSummary) -> list[str]:
    """The summary for a pipe or a log file: plain `what: value` lines, never wrapped or boxed."""
    return [f"run {summary.run_dir}: {summary.state}"] + [
        f"{what}: {value}" for what, value, _style in summary_rows(summary)
    ]

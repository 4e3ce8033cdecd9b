"""Terminal tables for `envsim export`: what was written and left out, and a chat-template check."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from envsim.recording.exporters import ExportReport
from envsim.recording.exporters.chat_template import TemplateReport

# What each reason means, in a few words (the full rules: docs/exports.md).
REASON_TEXT = {
    "failed": "the episode failed",
    "infrastructure_error": "a step failed inside envsim or the model layer",
    "not_passing": "expectation checks did not all pass (--only-passing)",
    "empty_messages": "no user or assistant text",
    "unrecovered_tool_error": "a tool error the assistant never recovered from",
    "inconsistent_tool_calls": "tool calls and results do not pair up",
    "unparseable_arguments": "tool-call arguments are not a JSON object",
    "error_turn_not_droppable": "a failed call cannot be removed coherently (--error-turns drop)",
    "llamafactory_alternation": "turns do not alternate as LLaMA-Factory requires",
}


def export_report_view(report: ExportReport) -> RenderableType:
    table = Table(title=f"export {report.format} -> {report.path}", title_justify="left")
    table.add_column("episodes", no_wrap=True)  # reason names stay greppable
    table.add_column("count", justify="right")
    table.add_column("why", style="dim")
    table.add_row("written", str(report.written), "")
    if report.kept_with_tool_errors:
        table.add_row("  with explicit tool errors", str(report.kept_with_tool_errors), "errors kept as context")
    if report.weighted_zero:
        table.add_row("  failed calls at weight 0", str(report.weighted_zero), "assistant messages not trained")
    for reason, count in report.skipped.items():
        table.add_row(Text(f"left out: {reason}", style="yellow"), str(count), REASON_TEXT.get(reason, ""))
    parts: list[RenderableType] = [table]
    if report.infrastructure_error_episodes:
        ids = report.infrastructure_error_episodes
        shown = ", ".join(ids[:10]) + (f", ... ({len(ids) - 10} more)" if len(ids) > 10 else "")
        parts.append(Text(f"infrastructure errors in: {shown} (envsim show RUN_DIR EPISODE)", style="yellow"))
    return Group(*parts)


def export_report_lines(report: ExportReport) -> list[str]:
    """The same report as plain lines, for a pipe or a log file: nothing wraps mid-word or draws boxes."""
    lines = [f"export {report.format} -> {report.path}", f"written: {report.written}"]
    if report.kept_with_tool_errors:
        lines.append(f"  with explicit tool errors: {report.kept_with_tool_errors}")
    if report.weighted_zero:
        lines.append(f"  failed calls at weight 0: {report.weighted_zero}")
    lines += [f"left out: {reason}: {count}" for reason, count in report.skipped.items()]
    if report.infrastructure_error_episodes:
        lines.append("infrastructure errors in: " + ", ".join(report.infrastructure_error_episodes))
    return lines


def _mark(value: bool | None, good: bool = True) -> Text:
    if value is None:
        return Text("-", style="dim")
    ok = value is good
    return Text("yes" if value else "no", style="green" if ok else "red")


def template_report_view(report: TemplateReport) -> RenderableType:
    table = Table(title=f"chat template {report.template.source}", title_justify="left")
    table.add_column("conversation", no_wrap=True)
    table.add_column("rendered")
    table.add_column("tools visible")
    table.add_column("calls visible")
    table.add_column("args double-encoded")
    table.add_column("first error")
    for check in report.checks:
        table.add_row(
            Text(check.id),
            _mark(check.rendered),
            _mark(check.tools_visible),
            _mark(check.calls_visible),
            _mark(check.double_encoded if check.rendered else None, good=False),
            Text(check.error or "", style="red"),
        )
    return table


def template_summary_lines(report: TemplateReport) -> list[Text]:
    """Below the table, unwrapped (they hold what a user searches for): each failure, the totals, advice."""
    template = report.template
    lines = [Text(f"{check.id}: {check.error}", style="red") for check in report.failed]
    problems = len(report.problems)
    summary = Text(
        f"{len(report.checks) - problems} of {len(report.checks)} conversations render correctly; "
        f"{len(report.failed)} fail to render",
        style="green" if not problems else "red",
    )
    lines.append(summary)
    if not template.marks_generation:
        advice = "the template has no {% generation %} block: TRL's assistant_only_loss=True cannot use it"
        lines.append(Text(advice, style="yellow"))
    return lines

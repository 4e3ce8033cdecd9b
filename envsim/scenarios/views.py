"""Rich renderings of scenario results: the replay pass/fail table, the re-execution drift table,
and the per-scenario success / pass^k table of live trials."""

from __future__ import annotations

import json

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from envsim.scenarios.evaluation import Evaluation
from envsim.scenarios.reexecute import ReexecutionReport
from envsim.scenarios.replay import ReplayReport


def replay_table(report: ReplayReport) -> RenderableType:
    table = Table(title=f"scenario replay -> {report.run_dir}", title_justify="left")
    table.add_column("scenario", no_wrap=True)
    table.add_column("result", no_wrap=True)
    table.add_column("checks", justify="right")
    table.add_column("why it failed")
    for outcome in report.outcomes:
        result = Text("pass", style="green") if outcome.passed else Text("FAIL", style="bold red")
        table.add_row(Text(outcome.scenario_id), result, str(outcome.checks), Text("\n".join(outcome.failures)))
    passed = sum(o.passed for o in report.outcomes)
    summary = f"{passed}/{len(report.outcomes)} scenarios passed"
    if report.unscripted:
        summary += f"; {len(report.unscripted)} without a script skipped (run them live with `envsim run`)"
    style = "green" if report.passed else "bold red"
    return Group(table, Text(summary, style=style))


def reexecution_table(report: ReexecutionReport) -> RenderableType:
    head = Text(
        f"re-executed {report.steps} tool calls of {report.episodes} episodes from {report.run_dir} "
        f"against today's environments ({report.source})"
    )
    if not report.changed:
        return Group(head, Text("no differences", style="green"))
    table = Table(title_justify="left")
    for column in ("episode", "turn", "tool", "call id", "field", "recorded -> now"):
        table.add_column(column, no_wrap=column != "recorded -> now")
    for d in report.differences:
        if d.field in ("error", "environment") and not isinstance(d.recorded, dict | list):
            change = f"{json.dumps(d.recorded)} -> {json.dumps(d.now)}" if d.field == "error" else d.diff
        else:
            change = d.diff
        table.add_row(Text(d.episode_id), str(d.turn), Text(d.tool), Text(d.call_id), d.field, Text(change))
    steps = len({(d.episode_id, d.call_id) for d in report.differences})
    return Group(head, table, Text(f"{steps} step(s) differ", style="bold red"))


def evaluation_table(evaluation: Evaluation) -> RenderableType:
    table = Table(title="scenario evaluation", title_justify="left")
    table.add_column("scenario", no_wrap=True)
    table.add_column("successes", justify="right")
    table.add_column("failed trials")
    for score in evaluation.scores:
        style = "green" if score.successes == score.trials else "red"
        table.add_row(
            Text(score.scenario_id),
            Text(f"{score.successes}/{score.trials}", style=style),
            Text("\n".join(score.failures)),
        )
    lines = "   ".join(f"pass^{k} = {value:.3f}" for k, value in sorted(evaluation.pass_hat.items()))
    return Group(table, Text(lines or "no trials"))

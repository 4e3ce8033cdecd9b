"""Rich renderings of scenario results: the replay pass/fail table, the re-execution drift table,
and the per-scenario success / pass^k table of live trials."""

from __future__ import annotations

import json

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from envsim.scenarios.catalog import LoadedCatalog
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
    where = (
        f"traces: {report.run_dir / 'traces.jsonl'}   "
        f"training set: envsim export {report.run_dir} --format openai --out {report.run_dir / 'train.jsonl'}"
    )
    return Group(table, Text(summary, style=style), Text(where))


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
    """Per scenario: trials, passes, success rate and why trials failed; then pass^k for k = 1..trials."""
    table = Table(title="scenario evaluation", title_justify="left")
    table.add_column("scenario", no_wrap=True)
    table.add_column("trials", justify="right")
    table.add_column("passes", justify="right")
    table.add_column("success", justify="right")
    table.add_column("failed trials")
    for score in evaluation.scores:
        style = "green" if score.successes == score.trials else "red"
        rate = score.successes / score.trials if score.trials else 0.0
        table.add_row(
            Text(score.scenario_id),
            str(score.trials),
            Text(str(score.successes), style=style),
            Text(f"{rate:.0%}", style=style),
            Text("\n".join(_grouped_failures(score.failures))),
        )
    passed = sum(s.successes == s.trials for s in evaluation.scores)
    head = f"{passed}/{len(evaluation.scores)} scenarios passed every trial"
    lines = "   ".join(f"pass^{k} = {value:.3f}" for k, value in sorted(evaluation.pass_hat.items()))
    return Group(table, Text(head, style="green" if evaluation.passed else "bold red"), Text(lines or "no trials"))


def _grouped_failures(failures: list[str]) -> list[str]:
    """`trial 0: why` lines with the same reason shown once: `trials 0, 2: why`."""
    by_reason: dict[str, list[str]] = {}
    for line in failures:
        head, sep, reason = line.partition(": ")
        trial = head.removeprefix("trial ") if sep and head.startswith("trial ") else None
        if trial is None:
            by_reason.setdefault(line, [])
        else:
            by_reason.setdefault(reason, []).append(trial)
    lines = []
    for reason, trials in by_reason.items():
        label = "trial" if len(trials) == 1 else "trials"
        lines.append(f"{label} {', '.join(trials)}: {reason}" if trials else reason)
    return lines


def catalog_summary(loaded: LoadedCatalog) -> RenderableType:
    """What `envsim validate CATALOG` shows: environments, scenarios, and how the catalog can be run."""
    scripted = [s for s in loaded.scenarios if s.scripted]
    live = len(loaded.scenarios) - len(scripted)
    catalog = loaded.catalog
    table = Table(title=f"scenario catalog {loaded.path}", title_justify="left", show_header=False)
    table.add_column("what", no_wrap=True)
    table.add_column("value")
    table.add_row("environments", Text(", ".join(e.id for e in loaded.environments)))
    table.add_row("scenarios", f"{len(loaded.scenarios)} ({len(scripted)} scripted, {live} unscripted)")
    model = catalog.inference_config.model.model_name if catalog.inference_config else "none (pass --model)"
    table.add_row("live runs", Text(f"model {model}; role instructions: {'yes' if catalog.multiturn else 'none'}"))
    return table

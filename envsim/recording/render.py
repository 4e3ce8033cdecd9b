"""Terminal views of a run directory for `envsim status` and `envsim show` (rich renderables).

All recorded text goes through `rich.text.Text`, never markup, so brackets in a conversation print as-is.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import jsonpointer
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from envsim.errors import EnvsimError
from envsim.messages import Message
from envsim.models.base import Usage
from envsim.recording.clean import infrastructure_error_episodes
from envsim.recording.run_dir import RunDirectory
from envsim.recording.status import RunState
from envsim.recording.trace import EpisodeStatus, StepRecord, Trace
from envsim.recording.verify import verify_trace

_STATE_STYLE = {
    RunState.QUEUED: "cyan",
    RunState.RUNNING: "yellow",
    RunState.DONE: "green",
    RunState.ERROR: "red",
    RunState.CANCELLED: "magenta",
}
_ROLE_STYLE = {"system": "dim", "user": "cyan", "assistant": "green", "tool": "yellow"}


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _usage_text(usage: Usage) -> str:
    text = f"{usage.requests} calls, {usage.input_tokens} in / {usage.output_tokens} out tokens"
    if usage.cache_read_tokens:
        text += f", {usage.cache_read_tokens} cached"
    if usage.cost_usd is not None:
        text += f", ${usage.cost_usd:.4f}"
    return text


def _infrastructure_text(episodes: list[str]) -> Text:
    """The successful episodes kept out of every training set because envsim or a model failed in them."""
    shown = ", ".join(episodes[:10]) + (f", ... ({len(episodes) - 10} more)" if len(episodes) > 10 else "")
    return Text(f"{len(episodes)} episodes, not in any dataset or export: {shown}", style="yellow")


def status_view(run: RunDirectory) -> RenderableType:
    """Status, counts, manifest facts, termination-reason histogram and usage of a run."""
    status = run.status()
    manifest = run.manifest
    summary = Table(show_header=False, box=None, pad_edge=False)
    summary.add_column(style="bold")
    summary.add_column()
    state = Text(status.state.value, style=_STATE_STYLE[status.state])
    if status.is_stale():
        state.append(f"  (stale: process {status.pid} is gone; resume the run to continue)", style="red")
    summary.add_row("run", Text(str(run.path)))
    summary.add_row("state", state)
    total = "?" if status.total is None else str(status.total)
    summary.add_row(
        "episodes", Text(f"{status.done} done, {status.failed} failed, {status.in_flight} in flight, {total} total")
    )
    summary.add_row("updated", Text(status.updated_at))
    summary.add_row("created", Text(manifest.created_at))
    summary.add_row("seed", Text(str(manifest.seed)))
    summary.add_row("models", Text(", ".join(f"{role}={name}" for role, name in manifest.models.items()) or "-"))
    summary.add_row("config", Text(f"{manifest.config_hash[:12]} (envsim {manifest.envsim_version})"))
    parts: list[RenderableType] = [summary]
    if status.detailed_status:
        parts.append(Panel(Text("\n".join(status.detailed_status)), title="detail", title_align="left"))

    reasons: Counter[tuple[str, str]] = Counter()
    usage = Usage()
    infrastructure: list[str] = []
    for trace in run.traces(include_failed=True):
        reasons[(trace.termination.value, trace.status.value)] += 1
        usage = usage + trace.total_usage
        infrastructure += infrastructure_error_episodes([trace])
    if infrastructure:
        summary.add_row("infrastructure errors", _infrastructure_text(infrastructure))
    if reasons:
        table = Table(title="termination reasons", title_justify="left")
        table.add_column("reason")
        table.add_column("status")
        table.add_column("episodes", justify="right")
        for (reason, episode_status), count in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])):
            style = "red" if episode_status == EpisodeStatus.FAILED else ""
            table.add_row(reason, Text(episode_status, style=style), str(count))
        parts += [table, Text(f"usage: {_usage_text(usage)}")]
    return Group(*parts)


def episode_list_view(run: RunDirectory) -> RenderableType:
    table = Table(title=f"episodes in {run.path}", title_justify="left")
    table.add_column("episode", no_wrap=True)
    for column in ("sample", "trial", "status", "termination", "turns", "calls", "errors"):
        table.add_column(column, justify="left" if column in ("status", "termination") else "right")
    count = 0
    for trace in run.traces(include_failed=True):
        count += 1
        errors = sum(step.error is not None for step in trace.steps)
        table.add_row(
            Text(trace.episode_id),
            str(trace.sample_index),
            str(trace.trial),
            Text(trace.status.value, style="red" if trace.status is EpisodeStatus.FAILED else "green"),
            trace.termination.value,
            str(trace.turns),
            str(len(trace.steps)),
            Text(str(errors), style="red" if errors else ""),
        )
    if count == 0:
        return Text(f"{run.path} has no finished episodes yet")
    return table


def _header(trace: Trace) -> Table:
    header = Table(show_header=False, box=None, pad_edge=False)
    header.add_column(style="bold")
    header.add_column()
    header.add_row("episode", Text(trace.episode_id))
    if trace.scenario_id:
        header.add_row("scenario", Text(trace.scenario_id))
    header.add_row("sample / trial", Text(f"{trace.sample_index} / {trace.trial}"))
    header.add_row("seed", Text(str(trace.seed)))
    status = Text(trace.status.value, style="red" if trace.status is EpisodeStatus.FAILED else "green")
    header.add_row("status", status.append(f"  ({trace.termination.value})", style="default"))
    if trace.error:
        header.add_row("error", Text(trace.error, style="red"))
    header.add_row("turns", Text(str(trace.turns)))
    header.add_row("wall time", Text(f"{trace.wall_time_s:.2f}s"))
    for role, usage in trace.usage.items():
        header.add_row(f"usage.{role}", Text(_usage_text(usage)))
    for key, value in trace.attributes.items():
        text = Text(value if isinstance(value, str) else _json(value))
        if key in trace.truncated_attributes:
            text.append("  (cut off at the token limit)", style="yellow")
        header.add_row(f"attr.{key}", text)
    return header


def _plan_view(trace: Trace) -> RenderableType:
    if trace.plan is None:
        return Text(f"plan: none ({trace.plan_error or 'not planned'})", style="dim")
    lines = Text("\n").join(Text(f"{turn.turn}. ", style="bold") + Text(turn.instruction) for turn in trace.plan.turns)
    if trace.plan.notes:
        lines.append("\n" + trace.plan.notes, style="dim")
    return Panel(lines, title=f"plan ({trace.plan.num_turns} turns)", title_align="left")


def _step_text(step: StepRecord) -> Text:
    text = Text()
    if step.error is not None:
        text.append(f"error: {step.error}\n", style="red")
    else:
        output = step.output if isinstance(step.output, str) else _json(step.output)
        text.append(output + "\n")
    for operation in step.patch:
        text.append(f"  state {step.environment}: {_json(operation)}\n", style="magenta")
    flags = [f"{step.environment}.{step.tool}"]
    if step.cached:
        flags.append("cached")
    if step.state_hash:
        flags.append(f"state {step.state_hash[:12]}")
    if step.latency_s:
        flags.append(f"{step.latency_s * 1000:.0f} ms")
    text.append("  " + " · ".join(flags), style="dim")
    return text


def _message_view(message: Message, steps: dict[str, StepRecord]) -> RenderableType:
    style = _ROLE_STYLE.get(message.role, "")
    body = Text()
    if message.role == "tool":
        step = steps.get(message.tool_call_id or "")
        body = _step_text(step) if step is not None else Text(message.content or "")
        title = f"tool result ({message.tool_call_id})"
        if step is not None and step.error is not None:
            style = "red"
    else:
        title = message.role
        if message.content:
            body.append(message.content)
        for call in message.tool_calls or []:
            if body:
                body.append("\n")
            body.append(f"→ {call.name}", style="bold").append(f"({call.function.arguments})  [{call.id}]")
    return Panel(body, title=title, title_align="left", border_style=style)


def episode_view(trace: Trace) -> RenderableType:
    """Plan, messages with roles, tool calls with their results and state patches, invariant check."""
    steps = {step.call_id: step for step in trace.steps}
    parts: list[RenderableType] = [_header(trace), _plan_view(trace)]
    if trace.tools:
        parts.append(Text("tools: " + ", ".join(tool.name for tool in trace.tools), style="dim"))
    parts += [_message_view(message, steps) for message in trace.messages]
    for env, state in trace.final_state.items():
        ref = trace.state_refs.get(env)
        if ref is not None:  # too large to print here: say where it is and how to see it
            patches = sum(1 for step in trace.steps if step.environment == env and step.patch)
            note = (
                f"initial state by reference: {ref.path} ({ref.bytes} bytes), {patches} patched step(s); "
                f"print the final state with `envsim show RUN_DIR {trace.episode_id} --state [/pointer] --env {env}`"
            )
            parts.append(Panel(Text(note), title=f"final state: {env}"))
            continue
        parts.append(Panel(Text(json.dumps(state, ensure_ascii=False, indent=2)), title=f"final state: {env}"))
    for check in trace.checks or []:
        mark = Text("PASS " if check.passed else "FAIL ", style="green" if check.passed else "red")
        parts.append(mark.append(f"{check.kind}: {check.reason}", style="default"))
    problems = verify_trace(trace)
    if problems:
        parts.append(Panel(Text("\n".join(problems)), title="recording invariant broken", border_style="red"))
    return Group(*parts)


def final_state_json(trace: Trace, *, pointer: str = "", env: str | None = None) -> str:
    """The final state of one environment of `trace` (or the part at JSON `pointer`), as indented JSON."""
    states = trace.final_state
    if not states:
        raise EnvsimError(f"episode {trace.episode_id} has no environment with a state")
    if env is None:
        if len(states) > 1:
            raise EnvsimError(
                f"episode {trace.episode_id} has several environments with a state: {', '.join(sorted(states))}",
                hint="choose one with --env",
            )
        env = next(iter(states))
    if env not in states:
        raise EnvsimError(
            f"episode {trace.episode_id} has no state for environment {env!r}; it has: {', '.join(sorted(states))}",
            hint="fix --env",
        )
    value = states[env]
    if pointer:
        try:
            value = jsonpointer.resolve_pointer(value, pointer)
        except jsonpointer.JsonPointerException as exc:
            raise EnvsimError(
                f"{pointer!r} is not in the final state of {env!r} ({exc})",
                hint="a JSON Pointer starts with / and escapes ~ as ~0 and / as ~1, e.g. /orders/#W1001/status",
            ) from exc
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True)

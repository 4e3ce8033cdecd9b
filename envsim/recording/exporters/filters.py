"""What keeps an episode out of a training set, and the conversation as it goes into one.

Reasons an episode is left out (checked in this order; an episode is counted once, under its first reason):
- `failed`: the episode's status is failed (model error after retries, environment error, ...).
- `infrastructure_error`: a step failed inside envsim or the model layer (`envsim.recording.clean`); never kept.
- `not_passing`: with `--only-passing`, the scenario's expectation checks did not all pass (or none ran).
- `empty_messages`: the conversation has no user message or no assistant message, a user message with
  blank content, or an assistant message with neither text nor tool calls.
- `unrecovered_tool_error`: a tool error the assistant never recovered from (see `unrecovered_tool_errors`).
- `inconsistent_tool_calls`: a tool message answers no pending call, or a call gets no answer.
- `unparseable_arguments`: a tool call's arguments are not a JSON object, in a format that needs objects.
- `error_turn_not_droppable`: with `--error-turns drop`, removing a failed call would leave an
  incoherent conversation (see `envsim.recording.exporters.conversation`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from envsim.environments.arguments import ArgumentError, check_arguments
from envsim.messages import Message, tool_result_content
from envsim.recording.clean import FAILED, INFRASTRUCTURE_ERROR, clean_problem, tool_errors
from envsim.recording.trace import StepRecord, Trace

NOT_PASSING = "not_passing"
EMPTY = "empty_messages"
UNRECOVERED_TOOL_ERROR = "unrecovered_tool_error"
INCONSISTENT_TOOL_CALLS = "inconsistent_tool_calls"
UNPARSEABLE_ARGUMENTS = "unparseable_arguments"
ERROR_TURN_NOT_DROPPABLE = "error_turn_not_droppable"

ErrorTurns = Literal["weight0", "drop", "keep"]
ERROR_TURNS: tuple[ErrorTurns, ...] = ("weight0", "drop", "keep")
ReasoningMode = Literal["keep", "drop"]

__all__ = [
    "EMPTY",
    "ERROR_TURNS",
    "ERROR_TURN_NOT_DROPPABLE",
    "FAILED",
    "INCONSISTENT_TOOL_CALLS",
    "INFRASTRUCTURE_ERROR",
    "NOT_PASSING",
    "UNPARSEABLE_ARGUMENTS",
    "UNRECOVERED_TOOL_ERROR",
    "ErrorTurns",
    "ExportOptions",
    "ReasoningMode",
]


@dataclass(frozen=True)
class ExportOptions:
    include_failed: bool = False
    include_tool_errors: bool = False  # keep episodes with unrecovered tool errors
    include_empty: bool = False
    only_passing: bool = False  # keep only episodes whose expectation checks all passed
    arguments: Literal["object", "string"] = "object"  # hf only: tool-call arguments as objects or JSON strings
    # How a failed tool call and its error are trained; None: the format's default (openai weight0, else drop).
    error_turns: ErrorTurns | None = None
    reasoning: ReasoningMode = "drop"  # the model's reasoning, in the format's convention, or left out
    split_parallel_calls: bool = False  # one call per assistant turn, results interleaved
    # "alnum9": tool-call ids rewritten as 9 alphanumeric characters (Mistral templates refuse other ids)
    call_ids: Literal["keep", "alnum9"] = "keep"


def passes_checks(trace: Trace) -> bool:
    return bool(trace.checks) and all(check.passed for check in trace.checks or [])


def unrecovered_tool_errors(trace: Trace) -> list[StepRecord]:
    """Tool errors the assistant did not recover from.

    Recovered means the assistant went on to a successful call of the same tool (it fixed the call), or
    handled the error correctly, which only the scenario's expectations can confirm: an episode whose
    checks all passed has no unrecovered error. A text reply after an error is not enough on its own
    (it may invent the result the tool never gave).
    """
    if passes_checks(trace):
        return []
    failed = {step.call_id for step in tool_errors(trace)}
    unrecovered: list[StepRecord] = []
    for index, step in enumerate(trace.steps):
        if step.call_id not in failed:
            continue
        if not any(later.tool == step.tool and later.error is None for later in trace.steps[index + 1 :]):
            unrecovered.append(step)
    return unrecovered


def is_empty(trace: Trace) -> bool:
    users = [m for m in trace.messages if m.role == "user"]
    assistants = [m for m in trace.messages if m.role == "assistant"]
    if not users or not assistants:
        return True
    if any(not (m.content or "").strip() for m in users):
        return True
    return any(not (m.content or "").strip() and not m.tool_calls for m in assistants)


def tool_call_problem(messages: list[Message]) -> str | None:
    """Why tool calls and tool messages do not pair up one to one, or None when they do."""
    pending: list[str] = []
    for index, message in enumerate(messages):
        if message.role == "tool":
            if message.tool_call_id not in pending:
                return f"message {index}: tool result for unknown call id {message.tool_call_id!r}"
            pending.remove(message.tool_call_id)
            continue
        if pending:
            return f"message {index}: calls {pending} got no tool result"
        if message.role == "assistant" and message.tool_calls:
            pending = [call.id for call in message.tool_calls]
    return f"calls {pending} got no tool result" if pending else None


def skip_reason(trace: Trace, options: ExportOptions) -> str | None:
    problem = clean_problem(trace, include_failed=options.include_failed)
    if problem is not None:
        return problem
    if options.only_passing and not passes_checks(trace):
        return NOT_PASSING
    if not options.include_empty and is_empty(trace):
        return EMPTY
    if not options.include_tool_errors and unrecovered_tool_errors(trace):
        return UNRECOVERED_TOOL_ERROR
    if tool_call_problem(trace.messages) is not None:
        return INCONSISTENT_TOOL_CALLS
    return None


def training_messages(trace: Trace) -> list[Message]:
    """The trace's messages with every failed step's tool message stated as an explicit tool error.

    The recorder already writes errors as {"error": ...}; this makes it true for any trace, so a tool
    error can never pass for a successful result in a training set.
    """
    errors = {step.call_id: step.error for step in trace.steps if step.error is not None}
    out: list[Message] = []
    for message in trace.messages:
        if message.role == "tool" and message.tool_call_id in errors:
            message = message.model_copy(update={"content": tool_result_content(None, errors[message.tool_call_id])})
        out.append(message)
    return out


def invalid_calls(trace: Trace) -> set[str]:
    """Call ids of the failed steps whose call was itself wrong: an unknown tool, or arguments that do not
    parse or break the tool's parameter schema. The assistant should never have made these calls, so they
    are the error turns (`--error-turns`). A valid call the backend refused (not found, not allowed) is an
    ordinary turn: making it was reasonable, and the answer to its error is what the example teaches."""
    tools = {tool.name: tool for tool in trace.tools}
    calls = {call.id: call for message in trace.messages for call in (message.tool_calls or [])}
    invalid: set[str] = set()
    for step in tool_errors(trace):
        call, tool = calls.get(step.call_id), tools.get(step.tool)
        if call is None:
            continue
        if tool is None:
            invalid.add(step.call_id)
            continue
        try:
            check_arguments(call, tool)
        except ArgumentError:
            invalid.add(step.call_id)
    return invalid

"""What keeps an episode out of a training set, and the conversation as it goes into one.

Reasons an episode is skipped by default (each can be overridden by a flag, except the last two):
- `failed`: the episode's status is failed (model error after retries, environment error, ...).
- `empty_messages`: the conversation has no user message or no assistant message, a user message with
  blank content, or an assistant message with neither text nor tool calls.
- `unrecovered_tool_error`: some environment step returned an error and no *later* step of the same
  episode called the *same tool* successfully. (An error followed by a corrected call of that tool is
  recovered: the episode teaches the fix, and the error stays in it as an explicit tool error message.)
- `inconsistent_tool_calls`: a tool message answers no pending call, or a call gets no answer.
- `unparseable_arguments`: a tool call's arguments are not a JSON object, in a format that needs objects.
Checks run in this order; a skipped episode is counted once, under its first reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from envsim.messages import Message, tool_result_content
from envsim.recording.trace import EpisodeStatus, StepRecord, Trace

FAILED = "failed"
EMPTY = "empty_messages"
UNRECOVERED_TOOL_ERROR = "unrecovered_tool_error"
INCONSISTENT_TOOL_CALLS = "inconsistent_tool_calls"
UNPARSEABLE_ARGUMENTS = "unparseable_arguments"


@dataclass(frozen=True)
class ExportOptions:
    include_failed: bool = False
    include_tool_errors: bool = False  # keep episodes with unrecovered tool errors
    include_empty: bool = False
    arguments: Literal["object", "string"] = "string"  # hf only: tool-call arguments as JSON strings or objects


def unrecovered_tool_errors(trace: Trace) -> list[StepRecord]:
    """Error steps with no later successful step of the same tool."""
    unrecovered: list[StepRecord] = []
    for index, step in enumerate(trace.steps):
        if step.error is None:
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
    if trace.status is EpisodeStatus.FAILED and not options.include_failed:
        return FAILED
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


def has_tool_error(trace: Trace) -> bool:
    return any(step.error is not None for step in trace.steps)


def has_unparseable_arguments(trace: Trace) -> bool:
    for message in trace.messages:
        for call in message.tool_calls or []:
            try:
                call.parsed_arguments()
            except ValueError:
                return True
    return False

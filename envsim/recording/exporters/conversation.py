"""The conversation as it goes into a training example: error turns, parallel calls and reasoning applied.

`prepare_conversation(trace, options, error_turns)` returns the messages every format writes from, each
with its training weight, or the reason the episode cannot be written:

- error turns (`--error-turns`): an invalid tool call (unknown tool, arguments that do not parse or break
  the tool's schema: `filters.invalid_calls`; a valid call the backend refused is an ordinary turn, and
  episodes with infrastructure errors never get here) is
  - `weight0`: kept with its error as context; the assistant message that made it gets weight 0, so the
    model is not trained to make the call, only to recover from its error;
  - `drop`: removed with its tool message, when the assistant retried the same tool successfully later in
    the same turn (the retry takes its place); text said beside a removed call moves to the next assistant
    message. Otherwise the rest of the conversation would answer an error the reader no longer sees, so
    the episode is left out (`error_turn_not_droppable`);
  - `keep`: kept as an ordinary turn.
- `split_parallel_calls`: an assistant message with several calls becomes consecutive single-call
  messages, each followed by its tool result (for templates that take one call per turn).
- `reasoning`: `drop` clears `Message.reasoning`; `keep` leaves it for the format to write.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

from envsim.messages import Message
from envsim.recording.clean import tool_errors
from envsim.recording.exporters.filters import (
    ERROR_TURN_NOT_DROPPABLE,
    UNPARSEABLE_ARGUMENTS,
    ErrorTurns,
    ExportOptions,
    invalid_calls,
    training_messages,
)
from envsim.recording.trace import StepRecord, Trace


@dataclass(frozen=True)
class TrainingMessage:
    message: Message
    weight: Literal[0, 1] | None = None  # None: the format's default (trained when it is an assistant turn)
    tool_error: bool = False  # a tool message stating a failed step's error


def _droppable(step: StepRecord, steps: list[StepRecord]) -> bool:
    """A later successful call of the same tool, in the same turn, stands in for the failed one."""
    index = steps.index(step)
    return any(s.tool == step.tool and s.turn == step.turn and s.error is None for s in steps[index + 1 :])


def drop_failed_calls(messages: list[Message], failed: set[str]) -> list[Message] | None:
    """`messages` without the failed calls and their tool results; None when that leaves them incoherent."""
    out: list[Message] = []
    carried: str | None = None  # text of a removed assistant message, for the next assistant message
    for message in messages:
        if message.role == "tool" and message.tool_call_id in failed:
            continue
        if message.role == "assistant" and message.tool_calls and any(c.id in failed for c in message.tool_calls):
            kept = [call for call in message.tool_calls if call.id not in failed]
            if not kept:
                text = (message.content or "").strip()
                carried = "\n\n".join(part for part in (carried, text) if part) or None
                continue
            message = message.model_copy(update={"tool_calls": kept})
        if carried is not None:
            if message.role != "assistant":
                return None
            joined = "\n\n".join(part for part in (carried, message.content) if part)
            message = message.model_copy(update={"content": joined})
            carried = None
        out.append(message)
    return None if carried is not None else out


def split_parallel_calls(messages: list[Message]) -> list[Message]:
    """Each multi-call assistant message -> one message per call, each followed by its own tool result."""
    out: list[Message] = []
    index = 0
    while index < len(messages):
        message = messages[index]
        calls = message.tool_calls or []
        if message.role != "assistant" or len(calls) < 2:
            out.append(message)
            index += 1
            continue
        results: dict[str, Message] = {}
        index += 1
        while index < len(messages) and messages[index].role == "tool":
            results[messages[index].tool_call_id or ""] = messages[index]
            index += 1
        for position, call in enumerate(calls):
            first = position == 0  # the text and reasoning came before the first call
            out.append(
                Message(
                    role="assistant",
                    content=message.content if first else None,
                    tool_calls=[call],
                    reasoning=message.reasoning if first else None,
                )
            )
            if call.id in results:
                out.append(results[call.id])
    return out


def alnum9_call_ids(messages: list[Message]) -> list[Message]:
    """Every tool-call id (and the tool message answering it) as 9 alphanumeric characters, stable per id."""
    mapping: dict[str, str] = {}
    for message in messages:
        for call in message.tool_calls or []:
            digest = hashlib.sha256(call.id.encode("utf-8")).hexdigest()
            short = next(digest[i : i + 9] for i in range(0, 55) if digest[i : i + 9] not in mapping.values())
            mapping.setdefault(call.id, short)
    out: list[Message] = []
    for message in messages:
        if message.tool_calls:
            calls = [call.model_copy(update={"id": mapping[call.id]}) for call in message.tool_calls]
            message = message.model_copy(update={"tool_calls": calls})
        if message.role == "tool" and message.tool_call_id in mapping:
            message = message.model_copy(update={"tool_call_id": mapping[message.tool_call_id or ""]})
        out.append(message)
    return out


def _unparseable(messages: list[Message]) -> bool:
    for message in messages:
        for call in message.tool_calls or []:
            try:
                call.parsed_arguments()
            except ValueError:
                return True
    return False


def prepare_conversation(trace: Trace, options: ExportOptions, error_turns: ErrorTurns) -> list[TrainingMessage] | str:
    """The training messages of an episode that passed the filters, or why it cannot be written."""
    messages = training_messages(trace)
    failed = invalid_calls(trace)
    errors = [step for step in tool_errors(trace) if step.call_id in failed]
    if error_turns == "drop" and failed:
        if not all(_droppable(step, trace.steps) for step in errors):
            return ERROR_TURN_NOT_DROPPABLE
        dropped = drop_failed_calls(messages, failed)
        if dropped is None:
            return ERROR_TURN_NOT_DROPPABLE
        messages = dropped
    if _unparseable(messages):
        return UNPARSEABLE_ARGUMENTS  # every format writes arguments that must parse (OpenAI validates them)
    if options.split_parallel_calls:
        messages = split_parallel_calls(messages)
    error_ids = {step.call_id for step in tool_errors(trace)}
    shows_error = [m.role == "tool" and m.tool_call_id in error_ids for m in messages]
    weights: list[Literal[0, 1] | None] = [None] * len(messages)
    if error_turns == "weight0":
        for index, message in enumerate(messages):
            if message.role == "assistant":
                weights[index] = 0 if any(call.id in failed for call in message.tool_calls or []) else 1
    if options.call_ids == "alnum9":
        messages = alnum9_call_ids(messages)
    if options.reasoning == "drop":
        messages = [m.model_copy(update={"reasoning": None}) if m.reasoning else m for m in messages]
    return [
        TrainingMessage(message, weight, error)
        for message, weight, error in zip(messages, weights, shows_error, strict=True)
    ]

"""Checking a tool call before anything runs: known tool, JSON-object arguments, schema, defaults.

Every failure is a short message meant for the assistant (it comes back as a tool error), precise
enough that a model can correct its call.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from envsim.environments.schema import document_errors, fill_defaults_in_place
from envsim.messages import ToolCall, ToolSpec

# A model that sends 40 violations learns nothing more from the last 35.
_MAX_LISTED = 5


class ArgumentError(ValueError):
    """The call's arguments are unusable; `str(error)` is the message for the assistant."""


@dataclass(frozen=True)
class CheckedArguments:
    raw: Any  # what the model sent, parsed when it parsed
    arguments: dict[str, Any]  # validated, schema defaults filled


def unknown_tool_message(name: str, available: Iterable[str]) -> str:
    names = sorted(available)
    listed = ", ".join(names) if names else "(none)"
    return f"unknown tool {name!r}; available: {listed}"


def parse_raw_arguments(call: ToolCall) -> Any:
    """The parsed arguments when they parse, else the raw string (for the record)."""
    try:
        return call.parsed_arguments()
    except ValueError:
        return call.function.arguments


def check_arguments(call: ToolCall, tool: ToolSpec) -> CheckedArguments:
    """Parse, fill defaults and validate against `tool.parameters`; raises ArgumentError."""
    try:
        parsed = call.parsed_arguments()
    except ValueError as exc:
        raise ArgumentError(f"invalid arguments for tool {tool.name!r}: {exc}") from exc
    # A second parse is an independent copy to fill (the raw arguments stay as sent), cheaper than a deep copy.
    filled = fill_defaults_in_place(tool.parameters, call.parsed_arguments())
    problems = document_errors(tool.parameters, filled)  # parsed JSON: jsonschema-rs may answer
    if problems:
        shown = problems[:_MAX_LISTED]
        more = len(problems) - len(shown)
        suffix = f"; and {more} more" if more else ""
        raise ArgumentError(f"invalid arguments for tool {tool.name!r}: " + "; ".join(shown) + suffix)
    return CheckedArguments(raw=parsed, arguments=filled)

"""Canonical messages, in the OpenAI chat shape, and conversions.

`Message.model_dump(exclude_none=True)` is a valid OpenAI chat message; providers convert from it.
"""

from __future__ import annotations

import json
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["system", "user", "assistant", "tool"]
# Message fields that are envsim's own records, never part of a wire or exported message.
ENVSIM_ONLY_FIELDS = frozenset({"reasoning", "finish_reason", "repaired_arguments"})


class FunctionCall(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    # Kept as the raw JSON string the model produced: it may be malformed, and the
    # environment (not the message layer) decides how to report that.
    arguments: str = "{}"


class ToolCall(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    type: Literal["function"] = "function"
    function: FunctionCall

    @classmethod
    def make(cls, name: str, arguments: dict[str, Any] | str | None = None, id: str | None = None) -> ToolCall:
        args = arguments if isinstance(arguments, str) else json.dumps(arguments or {}, ensure_ascii=False)
        return cls(id=id or f"call_{uuid.uuid4().hex[:12]}", function=FunctionCall(name=name, arguments=args))

    @property
    def name(self) -> str:
        return self.function.name

    def parsed_arguments(self) -> dict[str, Any]:
        """Arguments as a dict; raises ValueError with a precise reason when they are not a JSON object."""
        try:
            value = json.loads(self.function.arguments or "{}")
        except json.JSONDecodeError as exc:
            raise ValueError(f"arguments are not valid JSON ({exc.msg} at char {exc.pos})") from exc
        if not isinstance(value, dict):
            raise ValueError(f"arguments must be a JSON object, got {type(value).__name__}")
        return value


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role
    content: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None
    name: str | None = None
    # The model's reasoning for this turn (OpenAI-compatible `reasoning_content`, Anthropic thinking),
    # kept apart from `content`; providers never send it back on the wire, exporters decide where it goes.
    reasoning: str | None = None
    # Envsim's notes on a model reply, never sent on the wire nor exported: "length" when the reply was cut
    # off at the token limit, and the original text of tool-call arguments envsim repaired (call id -> text).
    finish_reason: str | None = None
    repaired_arguments: dict[str, str] | None = None

    @classmethod
    def system(cls, content: str) -> Message:
        return cls(role="system", content=content)

    @classmethod
    def user(cls, content: str) -> Message:
        return cls(role="user", content=content)

    @classmethod
    def assistant(cls, content: str | None = None, tool_calls: list[ToolCall] | None = None) -> Message:
        return cls(role="assistant", content=content, tool_calls=tool_calls or None)

    @classmethod
    def tool(cls, tool_call_id: str, content: str, name: str | None = None) -> Message:
        return cls(role="tool", tool_call_id=tool_call_id, content=content, name=name)

    def to_openai(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True, exclude=ENVSIM_ONLY_FIELDS)

    def with_reasoning(self, reasoning: str | None) -> Message:
        """This message carrying the model's `reasoning` (kept in the trace, offered by exports)."""
        return self if reasoning is None else self.model_copy(update={"reasoning": reasoning})


class ToolSpec(BaseModel):
    """What a model is told about a tool. `output_schema` and `read_only` are envsim facts, not sent."""

    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})
    output_schema: dict[str, Any] | None = None
    read_only: bool = False

    def to_openai(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }


def tool_result_content(output: Any | None, error: str | None) -> str:
    """How a step's output or error is shown to the assistant in a tool message."""
    if error is not None:
        return json.dumps({"error": error}, ensure_ascii=False)
    return output if isinstance(output, str) else json.dumps(output, ensure_ascii=False)

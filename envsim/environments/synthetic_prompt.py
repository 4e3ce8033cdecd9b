"""The messages a simulating model sees for one synthetic tool call, and the reply shape it must use."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from envsim.messages import Message, ToolSpec

TOOL_CALL_MARKER = "Tool call: `"  # opens the variable part; replays find the called tool by it
DEFAULT_PERSONA = "You simulate the backend of a software system. Answer tool calls the way that system would."


class SyntheticReply(BaseModel):
    """The JSON object a simulating model returns: the tool's output and, for stateful tools, a JSON Patch."""

    model_config = ConfigDict(extra="forbid")

    output: Any = Field(description="The tool's result, exactly as the real tool would return it.")
    patch: list[dict[str, Any]] = Field(
        default_factory=list,
        description="RFC 6902 JSON Patch operations on the current state; [] when nothing changes.",
    )


PATCH_OPERATION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["op", "path"],
    "properties": {
        "op": {"enum": ["add", "remove", "replace", "move", "copy", "test"]},
        "path": {"type": "string", "description": "JSON Pointer into the state, e.g. /tickets/T-1001/status"},
        "value": {},
        "from": {"type": "string"},
    },
}


def reply_schema(*, stateful: bool, output_schema: dict[str, Any] | None = None) -> dict[str, Any]:
    """JSON schema of the reply, for providers' JSON mode. Stateless tools are not offered `patch`.

    The tool's `output_schema`, when given, becomes the schema of `output`, so JSON-schema mode (and the
    mock model) produce outputs of the right shape on the first attempt.
    """
    schema = SyntheticReply.model_json_schema()
    schema["properties"]["patch"]["default"] = []
    schema["properties"]["patch"]["items"] = PATCH_OPERATION_SCHEMA
    if output_schema is not None:
        description = schema["properties"]["output"].get("description")
        schema["properties"]["output"] = {**output_schema, "description": description}
        schema.setdefault("required", [])
        if "output" not in schema["required"]:
            schema["required"].insert(0, "output")
    if not stateful:
        schema["properties"].pop("patch", None)
        schema["description"] = "The JSON object a simulating model returns: the tool's output."
    return schema


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True)


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def tool_contract(tool: ToolSpec) -> dict[str, Any]:
    contract: dict[str, Any] = {"name": tool.name, "description": tool.description, "parameters": tool.parameters}
    if tool.output_schema is not None:
        contract["output_schema"] = tool.output_schema
    contract["read_only"] = tool.read_only
    return contract


def system_message(
    persona: str | None,
    environment: str,
    tools: list[ToolSpec],
    *,
    state_schema: dict[str, Any] | None,
    stateful: bool,
) -> Message:
    """The stable part of every simulated call of `environment`: the same text for all its tools and calls,
    so a provider's prompt cache can reuse it (persona, every tool contract, the state schema, the rules)."""
    lines = [
        (persona or DEFAULT_PERSONA).strip(),
        "",
        f"You execute the tools of the environment `{environment}`. Each request names one tool call and its "
        "arguments; answer it the way the real system would.",
        "Reply with exactly one JSON object and nothing else:",
    ]
    if stateful:
        lines.append('{"output": <the tool\'s result>, "patch": [<JSON Patch operations on the current state>]}')
        lines.append(
            "The patch (RFC 6902: op, path, value/from) must describe exactly the change this call makes to the "
            "state and must keep the state valid against the state schema. Use [] when nothing changes. "
            "A read-only tool's patch must be []."
        )
        lines.append(
            "You are shown the current state, or (for a large state) a view of it: the parts the call is about, "
            "as JSON Pointer -> value, and an outline of the rest. Base the output on what you are shown; do not "
            "invent records it contradicts. Change only what you are shown (paths inside the shown pointers), "
            "except that new records may be added where the request says so."
        )
    else:
        lines.append('{"output": <the tool\'s result>}')
    lines.append("When a tool has an output_schema, `output` must match it.")
    lines.append(
        "If the call cannot succeed (e.g. a record does not exist), return the error the real system would "
        "return, as the output."
    )
    # Compact JSON, one tool per line: the budget counts these tokens too (a provider cache makes them cheap).
    contracts = [_compact(tool_contract(tool)) for tool in sorted(tools, key=lambda t: t.name)]
    lines += ["", f"Tools of `{environment}` (one JSON contract per line):", *contracts]
    if stateful and state_schema is not None:
        lines += ["", "State schema:", _compact(state_schema)]
    return Message.system("\n".join(lines))


def user_message(
    tool: ToolSpec,
    arguments: dict[str, Any],
    *,
    state_text: str | None,
    history: list[Message] | None,
    allow_create: list[str] | None = None,
) -> Message:
    """The variable part of one call: which tool, the state (or its view), the conversation, the arguments."""
    read_only = tool.read_only and state_text is not None  # only stateful tools have a patch
    head = f"{TOOL_CALL_MARKER}{tool.name}`" + (" (read-only: the patch must be [])" if read_only else "")
    parts = [head]
    if allow_create:
        parts.append("This call may add new records to: " + ", ".join(allow_create))
    if state_text is not None:
        parts.append(state_text)
    if history:
        parts.append(f"Conversation so far:\n{render_history(history)}")
    parts.append(f"Call arguments:\n{_dump(arguments)}")
    return Message.user("\n\n".join(parts))


def called_tool(messages: list[Message]) -> str | None:
    """The tool a simulated call's messages ask for (the inverse of `user_message`), or None."""
    user = next((m.content or "" for m in messages if m.role == "user"), "")
    if not user.startswith(TOOL_CALL_MARKER):
        return None
    return user[len(TOOL_CALL_MARKER) :].split("`", 1)[0]


def retry_message(problem: str) -> Message:
    return Message.user(
        f"Your reply was rejected: {problem}\n"
        "Reply again with only the corrected JSON object, in the shape described above."
    )


def render_history(history: list[Message]) -> str:
    """A plain transcript; the assistant's own system prompt is not the tool's business."""
    lines = []
    for message in history:
        if message.role == "system":
            continue
        if message.role == "tool":
            lines.append(f"[tool result {message.name or message.tool_call_id}]: {message.content or ''}")
            continue
        if message.content:
            lines.append(f"[{message.role}]: {message.content}")
        for call in message.tool_calls or []:
            lines.append(f"[{message.role} calls {call.name}]: {call.function.arguments}")
    return "\n".join(lines)

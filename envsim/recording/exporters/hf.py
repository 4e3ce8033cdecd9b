"""Hugging Face `messages` + `tools` columns, for TRL / `tokenizer.apply_chat_template`.

`datasets` infers one Arrow struct per column from all rows; tool parameter schemas and tool-call
arguments differ from row to row, so as nested objects they would be merged into one wide struct with
nulls filled in (the mixed-struct pitfall). So by default `tools` is a JSON string and each tool call's
`arguments` is a JSON string; every message has the same keys. `decode_hf_row` turns a loaded row back
into what `apply_chat_template(messages, tools=...)` expects. `--arguments object` writes arguments as
objects, for loaders that read the JSONL directly (not through `datasets`).
"""

from __future__ import annotations

import json
from typing import Any

from envsim.recording.exporters.filters import ExportOptions, training_messages
from envsim.recording.trace import Trace

_MESSAGE_KEYS = ("role", "content", "tool_calls", "tool_call_id", "name")


def hf_record(trace: Trace, options: ExportOptions) -> dict[str, Any]:
    tool_names = {call.id: call.name for m in trace.messages for call in (m.tool_calls or [])}
    messages: list[dict[str, Any]] = []
    for message in training_messages(trace):
        calls = None
        if message.tool_calls:
            calls = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {
                        "name": call.name,
                        "arguments": call.parsed_arguments()
                        if options.arguments == "object"
                        else call.function.arguments,
                    },
                }
                for call in message.tool_calls
            ]
        name = message.name
        if message.role == "tool" and name is None:
            name = tool_names.get(message.tool_call_id or "")  # chat templates show the tool's name
        messages.append(
            {
                "role": message.role,
                "content": message.content,
                "tool_calls": calls,
                "tool_call_id": message.tool_call_id,
                "name": name,
            }
        )
    tools = json.dumps([tool.to_openai() for tool in trace.tools], ensure_ascii=False)
    return {"id": trace.episode_id, "messages": messages, "tools": tools}


def decode_hf_row(row: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A row as loaded by `datasets` -> (messages, tools) ready for `apply_chat_template(messages, tools=tools)`."""
    tools = json.loads(row["tools"]) if isinstance(row["tools"], str) else row["tools"]
    messages: list[dict[str, Any]] = []
    for raw in row["messages"]:
        message = {key: raw[key] for key in _MESSAGE_KEYS if raw.get(key) is not None}
        if message.get("tool_calls"):
            message["tool_calls"] = [
                {
                    **call,
                    "function": {
                        "name": call["function"]["name"],
                        "arguments": json.loads(call["function"]["arguments"])
                        if isinstance(call["function"]["arguments"], str)
                        else call["function"]["arguments"],
                    },
                }
                for call in message["tool_calls"]
            ]
        messages.append(message)
    return messages, tools

"""Hugging Face `messages` + `tools` columns, for TRL's SFTTrainer / `tokenizer.apply_chat_template`.

A row is exactly what `apply_chat_template(row["messages"], tools=row["tools"])` takes: messages with
the keys that apply to them (`content` always, "" on an assistant message that only calls tools;
`tool_calls`, `tool_call_id` and the tool's `name` where they apply; `reasoning_content` on assistant
messages with `--reasoning keep`, the key Qwen3-style templates read), tool-call `arguments` as objects
and `tools` as a list of OpenAI function tools. `datasets` >= 5 stores values whose shape differs from
row to row as its `Json` type, so rows load back exactly (JSON and parquet); with an older `datasets`,
whose inference merges them into one wide struct, use `--arguments string` and `decode_hf_row`.
"""

from __future__ import annotations

import json
from typing import Any

from envsim.recording.exporters.conversation import TrainingMessage
from envsim.recording.exporters.filters import ExportOptions
from envsim.recording.trace import Trace

_MESSAGE_KEYS = ("role", "content", "tool_calls", "tool_call_id", "name", "reasoning_content")


def hf_message(item: TrainingMessage, tool_names: dict[str, str], options: ExportOptions) -> dict[str, Any]:
    message = item.message
    content = message.content
    if content is None and message.tool_calls:
        content = ""  # Qwen3's template tests `'</think>' in content`: null fails it, "" renders everywhere
    data: dict[str, Any] = {"role": message.role, "content": content}
    if message.tool_calls:
        data["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {
                    "name": call.name,
                    "arguments": call.parsed_arguments() if options.arguments == "object" else call.function.arguments,
                },
            }
            for call in message.tool_calls
        ]
    if message.role == "tool":
        data["tool_call_id"] = message.tool_call_id
        data["name"] = message.name or tool_names.get(message.tool_call_id or "")  # templates show it
    if message.reasoning and options.reasoning == "keep":
        data["reasoning_content"] = message.reasoning
    return data


def hf_record(trace: Trace, conversation: list[TrainingMessage], options: ExportOptions) -> dict[str, Any]:
    tool_names = {call.id: call.name for item in conversation for call in (item.message.tool_calls or [])}
    return {
        "id": trace.episode_id,
        "messages": [hf_message(item, tool_names, options) for item in conversation],
        "tools": [tool.to_openai() for tool in trace.tools],
    }


def decode_hf_row(row: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A row as loaded by `datasets` -> (messages, tools) for `apply_chat_template(messages, tools=tools)`.

    Accepts either argument mode and tools as a list or a JSON string; drops keys whose value is null
    (an older `datasets` fills every key in), except `content`, which chat templates expect.
    """
    tools = json.loads(row["tools"]) if isinstance(row["tools"], str) else row["tools"]
    messages: list[dict[str, Any]] = []
    for raw in row["messages"]:
        message = {key: raw[key] for key in _MESSAGE_KEYS if raw.get(key) is not None or key == "content"}
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

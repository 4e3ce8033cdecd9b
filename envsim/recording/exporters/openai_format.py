"""OpenAI chat fine-tuning JSONL: {"messages": [...], "tools": [...]} per line.

Assistant tool calls carry `arguments` as JSON strings; tool messages carry the `tool_call_id` they answer.
"""

from __future__ import annotations

from typing import Any

from envsim.recording.exporters.filters import ExportOptions, training_messages
from envsim.recording.trace import Trace


def openai_record(trace: Trace, options: ExportOptions) -> dict[str, Any]:
    messages = []
    for message in training_messages(trace):
        data = message.to_openai()
        if message.role == "tool":
            data.pop("name", None)  # not part of the tool message schema the fine-tuning API validates
        messages.append(data)
    return {"messages": messages, "tools": [tool.to_openai() for tool in trace.tools]}

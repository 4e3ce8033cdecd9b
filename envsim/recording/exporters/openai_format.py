"""OpenAI chat fine-tuning JSONL: {"messages": [...], "tools": [...], "parallel_tool_calls": ...} per line.

Assistant tool calls carry `arguments` as JSON strings; tool messages carry the `tool_call_id` they answer.
With `--error-turns weight0` (the default here) the assistant message that made a failed call has
`"weight": 0` (OpenAI's per-message weight: 0 or 1, on assistant messages only); others carry no weight
(trained, as OpenAI's default). `parallel_tool_calls` (when there are tools) is `false` with
`--split-parallel-calls` (every example shows one call at a time) and `true` otherwise (envsim lets the
model make parallel calls, the API's default). OpenAI's format has no field for reasoning, so
`--reasoning keep` is refused for it.
"""

from __future__ import annotations

from typing import Any

from envsim.recording.exporters.conversation import TrainingMessage
from envsim.recording.exporters.filters import ExportOptions
from envsim.recording.trace import Trace


def openai_record(trace: Trace, conversation: list[TrainingMessage], options: ExportOptions) -> dict[str, Any]:
    messages = []
    for item in conversation:
        data = item.message.to_openai()
        if item.message.role == "tool":
            data.pop("name", None)  # not part of the tool message schema the fine-tuning API validates
        if item.weight == 0:
            data["weight"] = 0
        messages.append(data)
    record: dict[str, Any] = {"messages": messages, "tools": [tool.to_openai() for tool in trace.tools]}
    if trace.tools:
        # The mode the example demonstrates: envsim's runs allow parallel calls (the API's default) unless
        # the export splits them into one call per turn.
        record["parallel_tool_calls"] = not options.split_parallel_calls
    return record

"""oumi's conversation format, as its `text_sft_jsonl` dataset (`TextSftJsonLinesDataset`) reads it.

    {"conversation_id": ..., "messages": [...], "tools": [...], "metadata": {...}}

oumi detects the format from the first line: `messages` is a list where every message has `role` and
`content` (or `tool_calls`); each line is then validated as an `oumi.core.types.Conversation`. So every
message carries `content`, null on an assistant message that only calls tools (as oumi writes them);
tool calls are in the OpenAI shape with `arguments` as a JSON string (oumi's storage contract); tool
messages carry `tool_call_id`; reasoning goes in `reasoning_content` with `--reasoning keep`.
"""

from __future__ import annotations

from typing import Any

from envsim.recording.exporters.conversation import TrainingMessage
from envsim.recording.exporters.filters import ExportOptions
from envsim.recording.trace import Trace


def oumi_message(item: TrainingMessage, options: ExportOptions) -> dict[str, Any]:
    message = item.message
    data: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        data["tool_calls"] = [call.model_dump() for call in message.tool_calls]
    if message.tool_call_id is not None:
        data["tool_call_id"] = message.tool_call_id
    if message.reasoning and options.reasoning == "keep":
        data["reasoning_content"] = message.reasoning
    return data


def oumi_record(trace: Trace, conversation: list[TrainingMessage], options: ExportOptions) -> dict[str, Any]:
    record: dict[str, Any] = {
        "conversation_id": trace.episode_id,
        "messages": [oumi_message(item, options) for item in conversation],
    }
    if trace.tools:
        record["tools"] = [tool.to_openai() for tool in trace.tools]
    metadata = {"scenario_id": trace.scenario_id, "sample_index": trace.sample_index, "trial": trace.trial}
    record["metadata"] = {key: value for key, value in metadata.items() if value is not None}
    return record

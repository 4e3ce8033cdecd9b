"""ShareGPT in the Hermes function-calling style.

    {"id": ..., "conversations": [{"from": "system"|"human"|"gpt"|"tool", "value": ...}, ...]}

The system value ends with the tools as JSON inside <tools></tools>; a gpt turn that calls tools holds its
text (if any) then one <tool_call>{"name": ..., "arguments": {...}}</tool_call> block per call; consecutive
tool results form one tool turn of <tool_response>{"name": ..., "content": ...}</tool_response> blocks.
A failed step's content is {"error": "..."}. With `--reasoning keep`, a gpt turn starts with the model's
reasoning in a `<think>...</think>` block (the convention of Hermes-style reasoning models).
"""

from __future__ import annotations

import json
from typing import Any

from envsim.recording.exporters.conversation import TrainingMessage
from envsim.recording.exporters.filters import ExportOptions
from envsim.recording.trace import Trace

TOOLS_PREAMBLE = (
    "You are a function calling AI model. You are provided with function signatures within <tools></tools> "
    "XML tags. You may call one or more functions to assist with the user query. Don't make assumptions about "
    "what values to plug into functions. Here are the available tools:\n<tools>\n{tools}\n</tools>\n"
    "For each function call return a json object with function name and arguments within "
    "<tool_call></tool_call> XML tags as follows:\n<tool_call>\n"
    '{{"name": <function-name>, "arguments": <args-dict>}}\n</tool_call>'
)
_ROLE_TO_FROM = {"system": "system", "user": "human", "assistant": "gpt", "tool": "tool"}


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _as_json(content: str | None) -> Any:
    """Tool output as JSON when it is JSON (so it nests cleanly), else the text itself."""
    try:
        return json.loads(content or "")
    except json.JSONDecodeError:
        return content or ""


def think_block(reasoning: str | None) -> str | None:
    return f"<think>\n{reasoning.strip()}\n</think>" if reasoning and reasoning.strip() else None


def sharegpt_record(trace: Trace, conversation: list[TrainingMessage], options: ExportOptions) -> dict[str, Any]:
    messages = [item.message for item in conversation]
    tool_names = {call.id: call.name for m in messages for call in (m.tool_calls or [])}
    turns: list[dict[str, str]] = []
    system_text = (messages[0].content or "") if messages and messages[0].role == "system" else ""
    if trace.tools:
        tools_block = TOOLS_PREAMBLE.format(tools=_dumps([tool.to_openai() for tool in trace.tools]))
        system_text = f"{system_text}\n\n{tools_block}" if system_text else tools_block
    if system_text:
        turns.append({"from": "system", "value": system_text})
    start = 1 if messages and messages[0].role == "system" else 0
    for message in messages[start:]:
        if message.role == "tool":
            name = tool_names.get(message.tool_call_id or "", message.name)
            response = _dumps({"name": name, "content": _as_json(message.content)})
            block = f"<tool_response>\n{response}\n</tool_response>"
            if turns and turns[-1]["from"] == "tool":
                turns[-1]["value"] += "\n" + block
            else:
                turns.append({"from": "tool", "value": block})
            continue
        parts = [part for part in (think_block(message.reasoning), message.content) if part]
        for call in message.tool_calls or []:
            payload = _dumps({"name": call.name, "arguments": call.parsed_arguments()})
            parts.append(f"<tool_call>\n{payload}\n</tool_call>")
        turns.append({"from": _ROLE_TO_FROM[message.role], "value": "\n".join(parts)})
    return {"id": trace.episode_id, "conversations": turns}

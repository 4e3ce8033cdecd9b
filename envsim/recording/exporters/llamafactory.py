"""LLaMA-Factory's sharegpt format with tools: what its `SharegptDatasetConverter` accepts.

    {"conversations": [{"from": "human"|"gpt"|"function_call"|"observation", "value": ...}, ...],
     "system": "...", "tools": "[{...OpenAI function tools...}]", "id": ...}

LLaMA-Factory requires the turns to alternate: human or observation at even positions, gpt or
function_call at odd ones, ending with an assistant turn (an even count). So:
- a tool-calling assistant message is one `function_call` turn whose value is the call as JSON
  `{"name": ..., "arguments": {...}}` (a JSON list of them for parallel calls); text said beside the calls
  has no place in that turn and is left out (its `<think>` reasoning, with `--reasoning keep`, stays:
  LLaMA-Factory strips a leading `<think>` block before parsing the calls);
- the tool results of one assistant message form one `observation` turn (several joined by a newline;
  `--split-parallel-calls` gives one result per observation instead);
- a trailing user turn with no answer is dropped.
`tools` is a JSON string, as LLaMA-Factory's tool formatters read it. `dataset_info_entry` is the entry
to paste into LLaMA-Factory's `data/dataset_info.json`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from envsim.recording.exporters.conversation import TrainingMessage
from envsim.recording.exporters.filters import ExportOptions
from envsim.recording.exporters.sharegpt import think_block
from envsim.recording.trace import Trace

_ASSISTANT_SIDE = ("gpt", "function_call")


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def llamafactory_record(trace: Trace, conversation: list[TrainingMessage], options: ExportOptions) -> dict[str, Any]:
    messages = [item.message for item in conversation]
    system = ""
    if messages and messages[0].role == "system":
        system = messages[0].content or ""
        messages = messages[1:]
    turns: list[dict[str, str]] = []
    for message in messages:
        if message.role == "tool":
            if turns and turns[-1]["from"] == "observation":
                turns[-1]["value"] += "\n" + (message.content or "")
            else:
                turns.append({"from": "observation", "value": message.content or ""})
            continue
        if message.role == "user":
            turns.append({"from": "human", "value": message.content or ""})
            continue
        think = think_block(message.reasoning)
        if message.tool_calls:
            calls = [{"name": c.name, "arguments": c.parsed_arguments()} for c in message.tool_calls]
            payload = _dumps(calls[0] if len(calls) == 1 else calls)
            turns.append({"from": "function_call", "value": f"{think}\n{payload}" if think else payload})
        else:
            text = message.content or ""
            turns.append({"from": "gpt", "value": f"{think}\n\n{text}" if think else text})
    while turns and turns[-1]["from"] not in _ASSISTANT_SIDE:
        turns.pop()
    return {
        "id": trace.episode_id,
        "conversations": turns,
        "system": system,
        "tools": _dumps([tool.to_openai() for tool in trace.tools]) if trace.tools else "",
    }


def alternation_problem(turns: list[dict[str, str]]) -> str | None:
    """What LLaMA-Factory's converter would reject ("Invalid role tag" / "Invalid message count"), or None."""
    for index, turn in enumerate(turns):
        allowed = _ASSISTANT_SIDE if index % 2 else ("human", "observation")
        if turn["from"] not in allowed:
            return f"turn {index} is {turn['from']!r}, expected one of {allowed}"
    if len(turns) % 2:
        return f"{len(turns)} turns: LLaMA-Factory needs an even count ending with an assistant turn"
    return None


def dataset_info_entry(out: Path) -> dict[str, Any]:
    """The `data/dataset_info.json` entry for the exported file (named after it)."""
    return {
        out.stem: {
            "file_name": out.name,
            "formatting": "sharegpt",
            "columns": {"messages": "conversations", "system": "system", "tools": "tools"},
            "tags": {
                "role_tag": "from",
                "content_tag": "value",
                "user_tag": "human",
                "assistant_tag": "gpt",
                "observation_tag": "observation",
                "function_tag": "function_call",
            },
        }
    }

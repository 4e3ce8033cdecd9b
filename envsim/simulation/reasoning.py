"""Chain of thought in conversations: what the assistant is asked to do, and how its reasoning is
separated from what it says.

Models that return reasoning natively (OpenAI-compatible `reasoning_content`, Anthropic thinking) fill
`Message.reasoning` in the provider; others are asked to write it in `<think>...</think>` before their
reply or tool call, and it is moved out of `content` here. Either way the trace keeps the reasoning
apart from the content, and exporters decide where it goes.
"""

from __future__ import annotations

import re
from typing import Literal

ReasoningStyle = Literal["freetext", "agent"]

_THINK = re.compile(r"<think>(.*?)</think>", re.DOTALL | re.IGNORECASE)

INSTRUCTIONS: dict[str, str] = {
    "freetext": (
        "Before each reply, think it through and write your reasoning inside <think>...</think>; then write "
        "your reply (or call tools). The user never sees what is inside the think tags."
    ),
    "agent": (
        "Work step by step. Before each tool call and before your final answer, write your reasoning inside "
        "<think>...</think> as numbered steps: what you know, what you still need, and why the next action "
        "(a tool call, or the answer) follows. The user never sees what is inside the think tags."
    ),
}


def reasoning_instruction(style: ReasoningStyle) -> str:
    return INSTRUCTIONS[style]


def split_reasoning(content: str | None, native: str | None = None) -> tuple[str | None, str | None]:
    """(reasoning, content without it). Native reasoning comes first when a reply has both."""
    if content is None:
        return native, None
    found = [m.strip() for m in _THINK.findall(content) if m.strip()]
    if not found:
        return native, content
    rest = _THINK.sub("", content).strip()
    parts = [p for p in (native, *found) if p]
    return "\n\n".join(parts), rest or None

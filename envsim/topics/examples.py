"""The shapes of generated examples (DeepFabric's conversation types) and how each becomes messages.

- `basic`: {question, answer}
- `chain_of_thought` + `freetext`: {question, chain_of_thought, final_answer}
- `chain_of_thought` + `agent`: {question, reasoning_steps: [{thought, tool_call?}], final_answer};
  a step with a tool call becomes an assistant turn calling the tool (its thought as reasoning) followed
  by the tool's result, so a tool-calling training set carries the reasoning before each call.

Reasoning goes to `Message.reasoning`, never into `content`; exporters decide where it lands.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from envsim.messages import Message, ToolCall

ConversationType = Literal["basic", "chain_of_thought"]
ReasoningStyle = Literal["freetext", "agent"]


class _Example(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1)


class BasicExample(_Example):
    answer: str = Field(min_length=1)


class FreetextExample(_Example):
    chain_of_thought: str = Field(min_length=1)
    final_answer: str = Field(min_length=1)


class ToolCallSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    result: Any = None  # what the tool returned (the generator writes the whole exchange)


class ReasoningStep(BaseModel):
    model_config = ConfigDict(extra="forbid")

    thought: str = Field(min_length=1)
    tool_call: ToolCallSpec | None = None


class AgentExample(_Example):
    reasoning_steps: list[ReasoningStep] = Field(min_length=1)
    final_answer: str = Field(min_length=1)


def example_type(conversation_type: ConversationType, reasoning_style: ReasoningStyle) -> type[_Example]:
    if conversation_type == "basic":
        return BasicExample
    return AgentExample if reasoning_style == "agent" else FreetextExample


def format_instructions(conversation_type: ConversationType, reasoning_style: ReasoningStyle, tools: list[str]) -> str:
    if conversation_type == "basic":
        return "Each example is a question a user asks and the assistant's answer."
    if reasoning_style == "freetext":
        return (
            "Each example is a question, the assistant's reasoning as free text (`chain_of_thought`), "
            "then its `final_answer`."
        )
    tool_text = (
        f" When a step needs a tool ({', '.join(tools)}), give the `tool_call` (name, arguments, and the "
        "result the tool returns); every tool call is preceded by the thought that motivates it."
        if tools
        else ""
    )
    return (
        "Each example is a question, the assistant's step-by-step reasoning (`reasoning_steps`, one thought "
        f"per step), then its `final_answer`.{tool_text}"
    )


def to_messages(example: _Example, sys_msg: str | None) -> list[Message]:
    messages = [Message.system(sys_msg)] if sys_msg else []
    messages.append(Message.user(example.question))
    if isinstance(example, BasicExample):
        messages.append(Message.assistant(example.answer))
    elif isinstance(example, FreetextExample):
        messages.append(Message(role="assistant", content=example.final_answer, reasoning=example.chain_of_thought))
    elif isinstance(example, AgentExample):
        thoughts: list[str] = []
        for index, step in enumerate(example.reasoning_steps):
            thoughts.append(step.thought)
            if step.tool_call is None:
                continue
            call = ToolCall.make(step.tool_call.name, step.tool_call.arguments, id=f"call_{index}")
            messages.append(Message(role="assistant", tool_calls=[call], reasoning="\n".join(thoughts)))
            result = step.tool_call.result
            content = result if isinstance(result, str) else json.dumps(result, ensure_ascii=False)
            messages.append(Message.tool(call.id, content, name=call.name))
            thoughts = []
        messages.append(Message(role="assistant", content=example.final_answer, reasoning="\n".join(thoughts) or None))
    return messages

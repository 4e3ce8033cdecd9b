"""Chain of thought in tool-using conversations: the assistant is asked for reasoning, and its
reasoning (in <think> tags, or native from the provider) is recorded apart from the content."""

from __future__ import annotations

from envsim.config.models import Reasoning
from envsim.messages import Message, ToolCall
from envsim.models.base import ModelRequest
from envsim.simulation.episode import simulate_episode
from envsim.simulation.reasoning import split_reasoning

from .test_episode import CONVERSATION, counting_user, deps, role_model, spec


def thinking_assistant(seen: list[str]):  # type: ignore[no-untyped-def]
    def reply(request: ModelRequest) -> Message:
        seen.append(request.messages[0].content or "")
        last = request.messages[-1]
        if last.role == "user":
            n = sum(1 for m in request.messages if m.role == "user")
            return Message.assistant(
                "<think>1. I need the count.\n2. add it.</think>", [ToolCall.make("add", {"amount": n})]
            )
        return Message(role="assistant", content="<think>The tool answered.</think>All done.", reasoning="native")

    return role_model(reply)


async def test_agent_reasoning_before_each_tool_call_and_the_answer_is_recorded_apart() -> None:
    seen: list[str] = []
    conversation = CONVERSATION.model_copy(update={"reasoning": Reasoning(style="agent")})
    trace = await simulate_episode(
        spec(0), deps({"user": counting_user(), "assistant": thinking_assistant(seen)}, conversation=conversation)
    )
    assistant = [m for m in trace.messages if m.role == "assistant"]
    assert assistant[0].tool_calls and assistant[0].content is None
    assert assistant[0].reasoning == "1. I need the count.\n2. add it."
    assert assistant[1].content == "All done." and assistant[1].reasoning == "native\n\nThe tool answered."
    assert "Before each tool call and before your final answer" in seen[0]
    assert all("<think>" not in (m.content or "") for m in trace.messages)
    assert trace.messages[0].content == "You are a helpful support agent."  # the instruction is not recorded


async def test_without_the_setting_no_reasoning_is_asked_for() -> None:
    seen: list[str] = []
    await simulate_episode(spec(0), deps({"user": counting_user(), "assistant": thinking_assistant(seen)}))
    assert "<think>" not in seen[0]


def test_split_reasoning() -> None:
    assert split_reasoning("plain") == (None, "plain")
    assert split_reasoning("<think>a</think> b <THINK>c</THINK>") == ("a\n\nc", "b")
    assert split_reasoning("<think>only</think>") == ("only", None)
    assert split_reasoning(None, "native") == ("native", None)

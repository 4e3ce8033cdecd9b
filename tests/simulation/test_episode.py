from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from envsim.config.models import MultiTurnAttribute
from envsim.errors import CircuitOpenError, ModelError
from envsim.messages import Message, ToolCall
from envsim.models.base import ChatModel, ModelRequest, ModelResponse, Usage
from envsim.recording.trace import EpisodeStatus, TerminationReason
from envsim.simulation.episode import EpisodeDeps, EpisodeSpec, episode_id_for, simulate_episode
from envsim.testing import FunctionModel, ScriptedModel, ScriptStep

from .fakes import CounterEnv, EchoEnv, FakeEnvironmentSet, attributes_from_spec

CONVERSATION = MultiTurnAttribute(
    id="chat",
    min_turns=2,
    max_turns=2,
    role_instruction_messages={"USER": "You are {customer}.", "ASSISTANT": "Secret role-play notes for {customer}."},
    output_system_prompt="You are a helpful support agent.",
    max_tool_rounds=2,
    user_stop_marker="[END]",
)


def deps(models: dict[str, ChatModel], conversation: MultiTurnAttribute = CONVERSATION, **kw: object) -> EpisodeDeps:
    def build(initial_states: object) -> FakeEnvironmentSet:
        state = dict(initial_states or {}).get("counter")  # type: ignore[call-overload]
        return FakeEnvironmentSet([CounterEnv(state=state), EchoEnv()])

    return EpisodeDeps(
        conversation=conversation,
        models=models,
        environments=build,
        attributes=attributes_from_spec,
        **{"use_planner": False, **kw},  # type: ignore[arg-type]
    )


def spec(index: int = 0, **kw: object) -> EpisodeSpec:
    return EpisodeSpec(episode_id=episode_id_for(index), seed=1000 + index, sample_index=index, **kw)  # type: ignore[arg-type]


def role_model(fn: Callable[[ModelRequest], object]) -> FunctionModel:
    return FunctionModel(fn)  # type: ignore[arg-type]


def counting_user(stop_after: int | None = None, marker: str = "[END]") -> FunctionModel:
    def reply(request: ModelRequest) -> str:
        n = sum(1 for m in request.messages if m.role == "assistant") + 1
        text = f"user message {n}"
        return f"{text} {marker}" if stop_after is not None and n >= stop_after else text

    return role_model(reply)


def tool_then_text_assistant() -> FunctionModel:
    """Calls `add` once per user message (two parallel calls), then answers in text."""

    def reply(request: ModelRequest) -> Message:
        last = request.messages[-1]
        if last.role == "user":
            n = sum(1 for m in request.messages if m.role == "user")
            return Message.assistant(
                None,
                [ToolCall.make("add", {"amount": n}, id=f"a{n}"), ToolCall.make("echo", {"n": n}, id=f"e{n}")],
            )
        return Message.assistant(f"done: {last.content}")

    return role_model(reply)


async def test_a_full_conversation_is_recorded() -> None:
    trace = await simulate_episode(spec(3), deps({"user": counting_user(), "assistant": tool_then_text_assistant()}))
    assert trace.status is EpisodeStatus.SUCCESS
    assert trace.termination is TerminationReason.MAX_TURNS
    assert trace.episode_id == "ep-000003" and trace.turns == 2
    roles = [m.role for m in trace.messages]
    assert roles == ["system", "user", "assistant", "tool", "tool", "assistant"] * 1 + [
        "user",
        "assistant",
        "tool",
        "tool",
        "assistant",
    ]
    # the recorded system prompt is the output prompt only: role-play notes never reach the trace
    assert trace.messages[0].content == "You are a helpful support agent."
    assert "Secret" not in json.dumps(trace.model_dump(mode="json"))
    assert trace.attributes == {"customer": "customer 3"}
    assert {t.name for t in trace.tools} == {"add", "get_count", "echo", "boom"}
    assert [s.call_id for s in trace.steps] == ["a1", "e1", "a2", "e2"]
    assert trace.initial_state == {"counter": {"count": 0, "log": []}}
    assert trace.final_state == {"counter": {"count": 3, "log": [1, 2]}}
    assert set(trace.usage) == {"user", "assistant"}


async def test_assistant_sees_role_play_notes_but_the_user_sees_no_tool_traffic() -> None:
    user = counting_user()
    assistant = tool_then_text_assistant()
    seen: dict[str, list[ModelRequest]] = {"user": [], "assistant": []}

    class Spy(ChatModel):
        def __init__(self, inner: ChatModel, role: str) -> None:
            self.inner, self.role = inner, role

        async def generate(self, request: ModelRequest) -> ModelResponse:
            seen[self.role].append(request)
            return await self.inner.generate(request)

    await simulate_episode(spec(), deps({"user": Spy(user, "user"), "assistant": Spy(assistant, "assistant")}))
    system = seen["assistant"][0].messages[0].content or ""
    assert system.startswith("You are a helpful support agent.") and "Secret role-play notes for customer 0" in system
    assert seen["assistant"][0].tool_choice == "auto"
    last_user_request = seen["user"][-1]
    assert last_user_request.context.role == "user" and not last_user_request.tools
    assert all(m.role in ("system", "user", "assistant") and not m.tool_calls for m in last_user_request.messages)
    # roles flipped: the assistant's final words arrive as `user`, the user's own message as `assistant`
    assert [m.role for m in last_user_request.messages[1:]] == ["user", "assistant", "user"]
    assert last_user_request.messages[-1].content == "done: " + json.dumps({"n": 1})
    assert "You are customer 0." in (last_user_request.messages[0].content or "")


async def test_user_stop_marker_ends_the_episode_and_the_last_message_is_answered() -> None:
    trace = await simulate_episode(
        spec(), deps({"user": counting_user(stop_after=1), "assistant": role_model(lambda r: "bye")})
    )
    assert trace.termination is TerminationReason.USER_STOP and trace.status is EpisodeStatus.SUCCESS
    assert [(m.role, m.content) for m in trace.messages[1:]] == [("user", "user message 1"), ("assistant", "bye")]


async def test_a_bare_stop_marker_is_not_recorded() -> None:
    user = ScriptedModel(["hello", "[END]"])
    trace = await simulate_episode(spec(), deps({"user": user, "assistant": role_model(lambda r: "hi")}))
    assert trace.termination is TerminationReason.USER_STOP
    assert [m.content for m in trace.messages[1:]] == ["hello", "hi"]
    assert trace.turns == 1


async def test_tool_round_limit_forces_a_final_answer_without_tools() -> None:
    calls = iter(range(100))

    def always_tools(request: ModelRequest) -> Message:
        if request.tool_choice == "none":
            return Message.assistant("Here is what I found.")
        return Message.assistant(None, [ToolCall.make("get_count", {}, id=f"g{next(calls)}")])

    trace = await simulate_episode(spec(), deps({"user": counting_user(), "assistant": role_model(always_tools)}))
    assert trace.status is EpisodeStatus.SUCCESS
    assert [s.round for s in trace.steps] == [1, 2, 1, 2]
    assert trace.messages[6].content == "Here is what I found."
    assert all("maximum number of tool calls" not in (m.content or "") for m in trace.messages)


async def test_tool_round_limit_is_recorded_when_the_model_still_calls_tools() -> None:
    assistant = role_model(lambda r: Message.assistant(None, [ToolCall.make("get_count", {}, id="g")]))
    trace = await simulate_episode(spec(), deps({"user": counting_user(), "assistant": assistant}))
    assert trace.termination is TerminationReason.TOOL_ROUND_LIMIT
    assert trace.status is EpisodeStatus.FAILED and "max_tool_rounds" in (trace.error or "")
    assert len(trace.steps) == 2


async def test_model_error_fails_the_episode_with_what_happened_so_far() -> None:
    assistant = ScriptedModel(["first answer", ModelError("HTTP 500 after 5 attempts", status=500)])
    trace = await simulate_episode(spec(), deps({"user": counting_user(), "assistant": assistant}))
    assert trace.status is EpisodeStatus.FAILED and trace.termination is TerminationReason.MODEL_ERROR
    assert "assistant model failed" in (trace.error or "") and "HTTP 500" in (trace.error or "")
    assert [m.content for m in trace.messages[1:]] == ["user message 1", "first answer", "user message 2"]


async def test_run_stopping_errors_propagate() -> None:
    assistant = ScriptedModel([CircuitOpenError("endpoint down")])
    with pytest.raises(CircuitOpenError):
        await simulate_episode(spec(), deps({"user": counting_user(), "assistant": assistant}))


async def test_an_environment_that_raises_fails_the_episode() -> None:
    assistant = role_model(lambda r: Message.assistant(None, [ToolCall.make("boom", {}, id="b")]))
    trace = await simulate_episode(spec(), deps({"user": counting_user(), "assistant": assistant}))
    assert trace.termination is TerminationReason.ENVIRONMENT_ERROR and trace.status is EpisodeStatus.FAILED
    assert "backend exploded" in (trace.error or "")


async def test_empty_assistant_reply_is_a_model_error() -> None:
    trace = await simulate_episode(spec(), deps({"user": counting_user(), "assistant": role_model(lambda r: "")}))
    assert trace.termination is TerminationReason.MODEL_ERROR and "empty reply" in (trace.error or "")


async def test_initial_state_overrides_and_usage_per_role() -> None:
    def assistant(request: ModelRequest) -> ModelResponse:
        if request.messages[-1].role == "user":
            message = Message.assistant(None, [ToolCall.make("add", {"amount": 1}, id="x")])
        else:
            message = Message.assistant("ok")
        return ModelResponse(message=message, usage=Usage(requests=1, input_tokens=10, output_tokens=2))

    trace = await simulate_episode(
        spec(initial_states={"counter": {"count": 40, "log": []}}),
        deps({"user": counting_user(), "assistant": role_model(assistant)}),
    )
    assert trace.initial_state["counter"]["count"] == 40 and trace.final_state["counter"]["count"] == 42
    assert trace.usage["assistant"].input_tokens == 40 and trace.usage["assistant"].requests == 4


async def test_same_inputs_give_identical_traces() -> None:
    def run_once() -> object:
        return simulate_episode(spec(7), deps({"user": counting_user(), "assistant": tool_then_text_assistant()}))

    first, second = await run_once(), await run_once()  # type: ignore[misc]
    dump = lambda t: t.model_dump_json(exclude={"wall_time_s": True, "steps": {"__all__": {"latency_s"}}})  # noqa: E731
    assert dump(first) == dump(second)


async def test_scripted_steps_check_roles() -> None:
    user = ScriptedModel([ScriptStep("hi", expect_role="user"), ScriptStep("[END]", expect_role="user")])
    assistant = ScriptedModel([ScriptStep("hello", expect_role="assistant", expect_tools=True)])
    trace = await simulate_episode(spec(), deps({"user": user, "assistant": assistant}))
    assert trace.status is EpisodeStatus.SUCCESS
    user.assert_consumed()
    assistant.assert_consumed()

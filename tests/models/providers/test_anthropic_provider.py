"""AnthropicChatModel driven through the real `anthropic` SDK against the fake server over HTTP."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from provider_helpers import TEST_KEY

from envsim.errors import ModelAuthError, ModelError, RateLimitError, RetryableModelError
from envsim.messages import Message, ToolCall, ToolSpec
from envsim.models.anthropic_provider import AnthropicChatModel, convert_messages
from envsim.models.base import GenerationParams, ModelRequest, ModelResponse, Usage
from envsim.testing.fake_server import FakeModelServer

WEATHER = ToolSpec(
    name="get_weather",
    description="Weather for a city.",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
TIME = ToolSpec(name="get_time", parameters={"type": "object", "properties": {"tz": {"type": "string"}}})
RATING = {
    "type": "object",
    "properties": {"answer": {"type": "string"}, "score": {"type": "integer", "minimum": 1, "maximum": 5}},
    "required": ["answer", "score"],
    "additionalProperties": False,
}


@pytest.fixture
async def model(server: FakeModelServer) -> AsyncIterator[AnthropicChatModel]:
    m = AnthropicChatModel("claude-sonnet-5", base_url=server.anthropic_base_url, api_key=TEST_KEY, timeout=5)
    yield m
    await m.aclose()


def ask(text: str = "hi", **kwargs: object) -> ModelRequest:
    return ModelRequest(messages=[Message.system("be brief"), Message.user(text)], **kwargs)  # type: ignore[arg-type]


async def test_text_reply_system_and_cache_control(server: FakeModelServer, model: AnthropicChatModel) -> None:
    server.set_handler(lambda req: f"echo: {req.messages[-1].content}")
    request = ask("hello", tools=[WEATHER, TIME], params=GenerationParams(temperature=0.2, stop=["END"]))
    response = await model.generate(request)
    assert response.text == "echo: hello"
    assert response.finish_reason == "stop"
    assert response.raw is not None and response.raw["type"] == "message"
    body = server.log[-1].body
    # The system prompt is separated from the turns, and the stable prefix is marked for caching.
    assert body["system"] == [{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}]
    assert body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "hello"}]}]
    assert [t.get("cache_control") for t in body["tools"]] == [None, {"type": "ephemeral"}]
    assert body["tools"][0]["input_schema"] == WEATHER.parameters
    assert body["max_tokens"] == 4096  # required by the API: the profile's default
    assert body["stop_sequences"] == ["END"]
    assert "temperature" not in body  # sampling parameters are deprecated for current Claude models


async def test_sampling_parameters_reach_models_that_take_them(server: FakeModelServer) -> None:
    model = AnthropicChatModel("claude-sonnet-4-6", base_url=server.anthropic_base_url, api_key=TEST_KEY)
    try:
        await model.generate(ask(params=GenerationParams(temperature=0.2, top_p=0.9, max_tokens=64)))
    finally:
        await model.aclose()
    body = server.log[-1].body
    # temperature wins over top_p: Claude 4 models refuse both together.
    assert (body["temperature"], body["max_tokens"], "top_p" in body) == (0.2, 64, False)


async def test_tool_use_and_tool_results_round_trip(server: FakeModelServer, model: AnthropicChatModel) -> None:
    calls = [ToolCall.make("get_weather", {"city": "Oslo"}, id="toolu_1"), ToolCall.make("get_time", {}, id="toolu_2")]
    server.set_handler([Message.assistant("Checking.", calls), "5 degrees at 10:00."])
    first = await model.generate(ask("both?", tools=[WEATHER, TIME]))
    assert first.finish_reason == "tool_calls"
    assert first.text == "Checking."
    assert [(c.id, c.name, c.parsed_arguments()) for c in first.message.tool_calls or []] == [
        ("toolu_1", "get_weather", {"city": "Oslo"}),
        ("toolu_2", "get_time", {}),
    ]
    history = [
        *ask("both?").messages,
        first.message,
        Message.tool("toolu_1", '{"temp": 5}'),
        Message.tool("toolu_2", '{"time": "10:00"}'),
    ]
    second = await model.generate(ModelRequest(messages=history, tools=[WEATHER, TIME]))
    assert second.text == "5 degrees at 10:00."
    turns = server.log[-1].body["messages"]
    assert [t["role"] for t in turns] == ["user", "assistant", "user"]
    assert turns[1]["content"][1] == {
        "type": "tool_use",
        "id": "toolu_1",
        "name": "get_weather",
        "input": {"city": "Oslo"},
    }
    # Both results travel in one user turn, as tool_result blocks keyed by the tool_use ids.
    assert turns[2]["content"] == [
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": '{"temp": 5}'},
        {"type": "tool_result", "tool_use_id": "toolu_2", "content": '{"time": "10:00"}'},
    ]


@pytest.mark.parametrize(
    ("choice", "parallel", "wire"),
    [
        ("auto", None, None),
        ("auto", False, {"type": "auto", "disable_parallel_tool_use": True}),
        ("required", None, {"type": "any"}),
        ("none", None, {"type": "none"}),
        ("get_time", False, {"type": "tool", "name": "get_time", "disable_parallel_tool_use": True}),
    ],
)
async def test_tool_choice_mapping(
    server: FakeModelServer, model: AnthropicChatModel, choice: str, parallel: bool | None, wire: object
) -> None:
    await model.generate(ask(tools=[WEATHER, TIME], tool_choice=choice, parallel_tool_calls=parallel))
    assert server.log[-1].body.get("tool_choice") == wire
    received = server.log[-1].request
    assert received is not None and received.tool_choice == (None if wire is None else choice)


async def test_structured_reply_native(server: FakeModelServer, model: AnthropicChatModel) -> None:
    response = await model.generate(ask("rate it", response_schema=RATING))
    value = json.loads(response.text)
    assert set(value) == {"answer", "score"}
    assert server.log[-1].body["output_config"] == {"format": {"type": "json_schema", "schema": RATING}}


def test_older_models_get_a_forced_tool_for_structured_output() -> None:
    params, forced = AnthropicChatModel("claude-opus-4-0", api_key="k").build_params(ask(response_schema=RATING))
    assert forced == "response" and params["tool_choice"] == {"type": "tool", "name": "response"}


async def test_structured_reply_via_forced_tool(server: FakeModelServer) -> None:
    model = AnthropicChatModel(
        "claude-sonnet-5", base_url=server.anthropic_base_url, api_key=TEST_KEY, structured_output="tool"
    )
    server.set_handler(lambda req: '{"answer": "fine", "score": 4}')  # the server wraps it into the forced tool
    try:
        response = await model.generate(ask("rate it", response_schema=RATING, response_schema_name="rating"))
        server.set_handler(None)  # the mock: it calls the forced tool with a valid input
        listed = await model.generate(ask("list", response_schema={"type": "array", "items": {"type": "string"}}))
    finally:
        await model.aclose()
    assert json.loads(response.text) == {"answer": "fine", "score": 4}
    assert response.message.tool_calls is None and response.finish_reason == "stop"
    body = server.log[0].body
    assert body["tool_choice"] == {"type": "tool", "name": "rating"}
    assert body["tools"][-1]["input_schema"] == RATING
    assert "output_config" not in body
    # A non-object schema is wrapped (tool inputs must be objects) and unwrapped on the way back.
    assert isinstance(json.loads(listed.text), list)


async def test_usage_is_normalized(server: FakeModelServer, model: AnthropicChatModel) -> None:
    usage = Usage(requests=1, input_tokens=30, output_tokens=7, cache_read_tokens=200, cache_write_tokens=50)
    server.set_handler(lambda req: ModelResponse(message=Message.assistant("ok"), usage=usage))
    response = await model.generate(ask())
    assert response.raw["usage"]["input_tokens"] == 30  # type: ignore[index]
    assert response.raw["usage"]["cache_read_input_tokens"] == 200  # type: ignore[index]
    got = response.usage
    assert (got.input_tokens, got.output_tokens, got.cache_read_tokens, got.cache_write_tokens) == (30, 7, 200, 50)


async def test_prompt_cache_write_then_read(server: FakeModelServer, model: AnthropicChatModel) -> None:
    first = await model.generate(ask("one", tools=[WEATHER]))
    second = await model.generate(ask("two", tools=[WEATHER]))
    assert first.usage.cache_write_tokens > 0 and first.usage.cache_read_tokens == 0
    assert second.usage.cache_read_tokens == first.usage.cache_write_tokens and second.usage.cache_write_tokens == 0


def test_message_conversion_merges_turns_and_keeps_malformed_arguments() -> None:
    broken = ToolCall(id="t1", function={"name": "get_weather", "arguments": '{"city": "Os'})  # type: ignore[arg-type]
    system, turns = convert_messages(
        [
            Message.system("a"),
            Message.assistant("Hello! How can I help?"),  # a user simulator's view opens with the assistant
            Message.user("one"),
            Message.user("two"),
            Message.assistant(None, [broken]),
            Message.tool("t1", '{"error": "bad arguments"}'),
            Message.user("and?"),
            Message.system("b"),
        ]
    )
    assert system == [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]
    assert [t["role"] for t in turns] == ["user", "assistant", "user", "assistant", "user"]
    assert [b["text"] for b in turns[2]["content"]] == ["one", "two"]
    assert turns[3]["content"][0]["input"] == {"_raw": '{"city": "Os'}
    assert [b["type"] for b in turns[4]["content"]] == ["tool_result", "text"]


def test_missing_key_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(ModelAuthError, match="ANTHROPIC_API_KEY"):
        AnthropicChatModel("claude-sonnet-5")


# ---------------------------------------------------------------------------------------------- errors


async def test_429_is_a_rate_limit_with_retry_after(server: FakeModelServer, model: AnthropicChatModel) -> None:
    server.faults.retry_after = 3
    server.faults.inject("rate_limit")
    with pytest.raises(RateLimitError) as info:
        await model.generate(ask())
    assert info.value.status == 429 and info.value.retry_after == 3.0
    assert info.value.endpoint == f"anthropic:claude-sonnet-5@{server.anthropic_base_url}"
    assert len(server.log) == 1  # no SDK retries


async def test_529_overloaded_is_a_rate_limit(server: FakeModelServer, model: AnthropicChatModel) -> None:
    server.faults.inject("overloaded")
    with pytest.raises(RateLimitError) as info:
        await model.generate(ask())
    assert info.value.status == 529 and "overloaded" in str(info.value).lower()


@pytest.mark.parametrize(("fault", "status"), [("server_error", 500), ("drop", None), ("malformed_json", None)])
async def test_transient_failures_are_retryable(
    server: FakeModelServer, model: AnthropicChatModel, fault: str, status: int | None
) -> None:
    server.faults.inject(fault)
    with pytest.raises(RetryableModelError) as info:
        await model.generate(ask())
    assert info.value.status == status and info.value.retryable


async def test_400_is_not_retryable(server: FakeModelServer, model: AnthropicChatModel) -> None:
    server.faults.inject("bad_request")
    with pytest.raises(ModelError) as info:
        await model.generate(ask())
    assert type(info.value) is ModelError and info.value.status == 400


async def test_wrong_key_is_an_auth_error_without_the_key(server: FakeModelServer) -> None:
    wrong = "sk-ant-wrong-DO-NOT-PRINT-42"
    model = AnthropicChatModel("claude-sonnet-5", base_url=server.anthropic_base_url, api_key=wrong)
    try:
        with pytest.raises(ModelAuthError) as info:
            await model.generate(ask())
    finally:
        await model.aclose()
    assert info.value.status == 401 and wrong not in info.value.render()
    # The SDK sends the key as x-api-key or a bearer token; the request log never keeps it.
    assert wrong not in repr(server.log[-1].headers)

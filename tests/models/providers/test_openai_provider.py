"""OpenAIChatModel against the fake server over HTTP, on both transports: "direct" (aiohttp with the
headers the real `openai` SDK computes) and "sdk" (every request through the real SDK's client)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from provider_helpers import TEST_KEY

from envsim.errors import ModelAuthError, ModelError, RateLimitError, RetryableModelError
from envsim.messages import Message, ToolCall, ToolSpec
from envsim.models.base import GenerationParams, ModelRequest, ModelResponse, Usage
from envsim.models.openai_provider import OpenAIChatModel, strict_compatible
from envsim.models.openai_transport import TRANSPORTS, Transport
from envsim.testing.fake_server import FakeModelServer

WEATHER = ToolSpec(
    name="get_weather",
    description="Weather for a city.",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
TIME = ToolSpec(name="get_time", parameters={"type": "object", "properties": {"tz": {"type": "string"}}})


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> Transport:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
async def model(server: FakeModelServer, transport: Transport) -> AsyncIterator[OpenAIChatModel]:
    m = OpenAIChatModel(
        "gpt-4o-mini", base_url=server.openai_base_url, api_key=TEST_KEY, timeout=5, transport=transport
    )
    yield m
    await m.aclose()


def ask(text: str = "hi", **kwargs: object) -> ModelRequest:
    return ModelRequest(messages=[Message.system("be brief"), Message.user(text)], **kwargs)  # type: ignore[arg-type]


async def test_text_reply_and_what_the_sdk_sent(server: FakeModelServer, model: OpenAIChatModel) -> None:
    server.set_handler(lambda req: f"echo: {req.messages[-1].content}")
    request = ask("hello", params=GenerationParams(temperature=0.3, top_p=0.9, max_tokens=50, seed=7, stop=["END"]))
    response = await model.generate(request)
    assert response.message.content == "echo: hello"
    assert response.message.tool_calls is None
    assert response.finish_reason == "stop"
    assert response.model == "gpt-4o-mini"
    assert response.raw is not None and response.raw["object"] == "chat.completion"
    body = server.log[-1].body
    assert body["messages"] == [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello"}]
    assert (body["temperature"], body["top_p"], body["seed"], body["stop"]) == (0.3, 0.9, 7, ["END"])
    # A compatible server (any base_url not at openai.com) takes max_tokens; the canonical request round-trips.
    assert body["max_tokens"] == 50 and "max_completion_tokens" not in body
    assert server.log[-1].request is not None
    assert server.log[-1].request.params == request.params


async def test_single_tool_call(server: FakeModelServer, model: OpenAIChatModel) -> None:
    server.set_handler(lambda req: Message.assistant(None, [ToolCall.make("get_weather", {"city": "Oslo"}, id="c1")]))
    response = await model.generate(ask("weather?", tools=[WEATHER], tool_choice="get_weather"))
    assert response.finish_reason == "tool_calls"
    [call] = response.message.tool_calls or []
    assert (call.id, call.name, call.parsed_arguments()) == ("c1", "get_weather", {"city": "Oslo"})
    body = server.log[-1].body
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert body["tools"][0]["function"]["parameters"] == WEATHER.parameters


async def test_parallel_tool_calls_and_results_round_trip(server: FakeModelServer, model: OpenAIChatModel) -> None:
    calls = [ToolCall.make("get_weather", {"city": "Oslo"}, id="c1"), ToolCall.make("get_time", {"tz": "CET"}, id="c2")]
    server.set_handler([Message.assistant(None, calls), "It is 5 degrees and 10:00."])
    first = await model.generate(ask("both?", tools=[WEATHER, TIME], parallel_tool_calls=True))
    assert [c.id for c in first.message.tool_calls or []] == ["c1", "c2"]
    assert server.log[-1].body["parallel_tool_calls"] is True
    history = [
        *ask("both?").messages,
        first.message,
        Message.tool("c1", '{"temp": 5}'),
        Message.tool("c2", '{"time": "10:00"}'),
    ]
    second = await model.generate(ModelRequest(messages=history, tools=[WEATHER, TIME]))
    assert second.text == "It is 5 degrees and 10:00."
    sent = server.log[-1].request
    assert sent is not None
    assert [m.role for m in sent.messages] == ["system", "user", "assistant", "tool", "tool"]
    assert [m.tool_call_id for m in sent.messages[3:]] == ["c1", "c2"]
    assert sent.messages[2].tool_calls == first.message.tool_calls


async def test_structured_reply_sends_json_schema(server: FakeModelServer, model: OpenAIChatModel) -> None:
    closed = {
        "type": "object",
        "properties": {"answer": {"type": "string"}, "score": {"type": "integer", "minimum": 1, "maximum": 5}},
        "required": ["answer", "score"],
        "additionalProperties": False,
    }
    response = await model.generate(ask("rate it", response_schema=closed, response_schema_name="rating v1"))
    value = json.loads(response.text)
    assert set(value) == {"answer", "score"} and 1 <= value["score"] <= 5
    fmt = server.log[-1].body["response_format"]
    assert fmt == {"type": "json_schema", "json_schema": {"name": "rating_v1", "schema": closed, "strict": True}}
    open_schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    await model.generate(ask("x", response_schema=open_schema))
    assert server.log[-1].body["response_format"]["json_schema"]["strict"] is False


async def test_usage_is_normalized(server: FakeModelServer, model: OpenAIChatModel) -> None:
    usage = Usage(requests=1, input_tokens=100, output_tokens=20, cache_read_tokens=40)
    server.set_handler(lambda req: ModelResponse(message=Message.assistant("ok"), usage=usage))
    response = await model.generate(ask())
    wire_usage = response.raw["usage"]  # type: ignore[index]
    assert wire_usage["prompt_tokens"] == 140  # OpenAI counts cached tokens inside prompt_tokens
    assert wire_usage["prompt_tokens_details"]["cached_tokens"] == 40
    assert response.usage.input_tokens == 100
    assert response.usage.cache_read_tokens == 40
    assert response.usage.output_tokens == 20
    assert response.usage.requests == 1


async def test_compatible_server_needs_no_key(monkeypatch: pytest.MonkeyPatch, transport: Transport) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    async with FakeModelServer() as server:  # accepts any key, like a local vLLM
        model = OpenAIChatModel("llama3.1:8b", base_url=server.openai_base_url, transport=transport)
        try:
            await model.generate(ask(params=GenerationParams(max_tokens=12)))
        finally:
            await model.aclose()
    assert server.log[-1].status == 200
    assert server.log[-1].body["model"] == "llama3.1:8b"


async def test_clients_share_one_tls_context_built_by_preload(
    server: FakeModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Loading the CA bundle costs ~0.15 s per client; `preload` (run before workers fork) does it once
    for every client of every provider."""
    import httpx2

    from envsim.models import tls
    from envsim.models.anthropic_provider import AnthropicChatModel

    built: set[int] = set()  # distinct contexts (passing a ready context back through httpx2 is free)
    real = httpx2.create_ssl_context

    def counting(*args: Any, **kwargs: Any) -> Any:
        context = real(*args, **kwargs)
        built.add(id(context))
        return context

    monkeypatch.setattr(httpx2, "create_ssl_context", counting)
    tls.shared_ssl_context.cache_clear()
    openai_models = [
        OpenAIChatModel(n, base_url=server.openai_base_url, api_key=TEST_KEY, transport="sdk") for n in ("a", "b")
    ]
    claude = AnthropicChatModel("claude-x", base_url=server.anthropic_base_url, api_key=TEST_KEY)
    openai_models[0].preload()
    assert len(built) == 1
    try:
        for m in openai_models:
            assert (await m.generate(ask())).message.content
        assert (await claude.generate(ask())).message.content
    finally:
        for m in (*openai_models, claude):
            await m.aclose()
    assert len(built) == 1  # three clients, two SDKs, one context
    tls.shared_ssl_context.cache_clear()


async def test_direct_transport_builds_a_tls_context_only_for_https(
    server: FakeModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A local plain-HTTP server needs no CA bundle: the direct transport skips its 0.1-0.2 s load."""
    import httpx2

    from envsim.models import tls

    built: list[str] = []
    real = httpx2.create_ssl_context
    monkeypatch.setattr(httpx2, "create_ssl_context", lambda *a, **k: built.append("ctx") or real(*a, **k))
    tls.shared_ssl_context.cache_clear()
    local = OpenAIChatModel("a", base_url=server.openai_base_url, api_key=TEST_KEY)
    local.preload()
    try:
        assert (await local.generate(ask())).message.content
    finally:
        await local.aclose()
    assert built == []
    OpenAIChatModel("a", base_url="https://models.example.test/v1", api_key=TEST_KEY).preload()
    assert built == ["ctx"]
    tls.shared_ssl_context.cache_clear()


def test_missing_key_for_openai_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MY_OPENAI_KEY", raising=False)
    with pytest.raises(ModelAuthError) as info:
        OpenAIChatModel("gpt-4o-mini", api_key_env="MY_OPENAI_KEY")
    assert "MY_OPENAI_KEY" in info.value.render()


def test_official_models_get_the_right_parameters() -> None:
    gpt4o = OpenAIChatModel("gpt-4o-mini", api_key="k").build_params(ask(params=GenerationParams(max_tokens=9)))
    assert gpt4o["max_completion_tokens"] == 9 and "max_tokens" not in gpt4o
    model = OpenAIChatModel("o3-mini", api_key="k")
    params = model.build_params(ask(params=GenerationParams(temperature=0.5, max_tokens=9), parallel_tool_calls=True))
    assert "temperature" not in params and params["max_completion_tokens"] == 9


def test_forcing_an_unknown_tool_is_a_clear_error() -> None:
    model = OpenAIChatModel("gpt-4o", api_key="k")
    with pytest.raises(ModelError, match="get_time"):
        model.build_params(ask(tools=[WEATHER], tool_choice="get_time"))


def test_strict_mode_only_for_qualifying_schemas() -> None:
    nested = {
        "type": "object",
        "properties": {"items": {"type": "array", "items": {"type": "object", "properties": {"x": {}}}}},
        "required": ["items"],
        "additionalProperties": False,
    }
    assert not strict_compatible(nested)  # the inner object is open
    assert strict_compatible({"type": "string"})


# ---------------------------------------------------------------------------------------------- errors


async def test_429_is_a_rate_limit_with_retry_after(server: FakeModelServer, model: OpenAIChatModel) -> None:
    server.faults.retry_after = 2.5
    server.faults.inject("rate_limit")
    with pytest.raises(RateLimitError) as info:
        await model.generate(ask())
    err = info.value
    assert err.status == 429 and err.retry_after == 2.5 and err.retryable
    assert err.endpoint == f"openai:gpt-4o-mini@{server.openai_base_url}"
    assert len(server.log) == 1  # the SDK did not retry on its own


@pytest.mark.parametrize(
    ("fault", "status", "kind"),
    [
        ("server_error", 500, RetryableModelError),
        ("overloaded", 503, RetryableModelError),
        ("drop", None, RetryableModelError),
        ("malformed_json", None, RetryableModelError),
    ],
)
async def test_transient_failures_are_retryable(
    server: FakeModelServer, model: OpenAIChatModel, fault: str, status: int | None, kind: type[Exception]
) -> None:
    server.faults.inject(fault)
    with pytest.raises(kind) as info:
        await model.generate(ask())
    assert info.value.retryable  # type: ignore[attr-defined]
    assert info.value.status == status  # type: ignore[attr-defined]
    assert len(server.log) == 1


async def test_timeout_is_retryable(server: FakeModelServer, transport: Transport) -> None:
    server.faults.hang_seconds = 5
    server.faults.inject("hang")
    model = OpenAIChatModel(
        "gpt-4o-mini", base_url=server.openai_base_url, api_key=TEST_KEY, timeout=0.3, transport=transport
    )
    try:
        with pytest.raises(RetryableModelError, match="timed out"):
            await model.generate(ask())
    finally:
        await model.aclose()


async def test_400_is_not_retryable(server: FakeModelServer, model: OpenAIChatModel) -> None:
    server.faults.inject("bad_request")
    with pytest.raises(ModelError) as info:
        await model.generate(ask())
    assert type(info.value) is ModelError and not info.value.retryable and info.value.status == 400
    assert "Invalid request" in str(info.value)


async def test_wrong_key_is_an_auth_error_without_the_key(server: FakeModelServer, transport: Transport) -> None:
    wrong = "sk-wrong-key-DO-NOT-PRINT-42"
    model = OpenAIChatModel(
        "gpt-4o-mini", base_url=server.openai_base_url, api_key=wrong, api_key_env="ACME_KEY", transport=transport
    )
    try:
        with pytest.raises(ModelAuthError) as info:
            await model.generate(ask())
    finally:
        await model.aclose()
    text = info.value.render()
    assert info.value.status == 401 and not info.value.retryable
    assert wrong not in text and wrong[-6:] not in text
    assert "ACME_KEY" in text  # tells the user which variable to fix


async def test_bad_tool_arguments_reach_the_caller_as_is(server: FakeModelServer, model: OpenAIChatModel) -> None:
    server.faults.inject("bad_tool_args")
    response = await model.generate(ask(tools=[WEATHER]))
    [call] = response.message.tool_calls or []
    with pytest.raises(ValueError, match="not valid JSON"):
        call.parsed_arguments()


async def test_both_transports_send_the_same_headers(server: FakeModelServer) -> None:
    """The direct transport sends what the SDK would: auth, user agent, organization/project, platform."""
    sent: dict[str, dict[str, str]] = {}
    for transport in TRANSPORTS:
        model = OpenAIChatModel(
            "gpt-4o-mini",
            base_url=server.openai_base_url,
            api_key=TEST_KEY,
            transport=transport,  # type: ignore[arg-type]
        )
        try:
            await model.generate(ask())
        finally:
            await model.aclose()
        sent[transport] = server.log[-1].headers
    sent["sdk"].pop("connection", None)  # httpx2 spells out HTTP/1.1's default keep-alive
    assert sent["direct"] == sent["sdk"]
    assert sent["direct"]["authorization"] == "<redacted>" and sent["direct"]["user-agent"].startswith("AsyncOpenAI/")


def test_direct_transport_takes_the_proxy_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from envsim.models.openai_transport import env_proxy

    for name in ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    assert env_proxy("https://api.openai.com/v1/chat/completions") is None
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp:3128")
    assert env_proxy("https://api.openai.com/v1/chat/completions") == "http://proxy.corp:3128"
    assert env_proxy("http://vllm.internal:8000/v1/chat/completions") is None  # HTTP_PROXY is not set
    monkeypatch.setenv("NO_PROXY", "api.openai.com")
    assert env_proxy("https://api.openai.com/v1/chat/completions") is None

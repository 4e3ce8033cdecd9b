"""The OpenAI-compatible provider against a fake server that answers like llama-cpp-python's (issue 12):
structured output falls back or is picked by profile, messages are sent in the form its chat template
needs, refusals are told apart from server trouble, and both transports behave the same."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import BaseModel

from envsim.errors import RequestRefusedError
from envsim.messages import Message, ToolCall, ToolSpec
from envsim.models.base import ModelRequest
from envsim.models.endpoint_capabilities import EndpointSettings
from envsim.models.openai_provider import OpenAIChatModel
from envsim.models.openai_transport import TRANSPORTS, Transport
from envsim.models.stack import ModelPolicies, build_model_stack
from envsim.models.structured import structured_call
from envsim.testing.fake_server import FakeModelServer

LOOKUP = ToolSpec(
    name="lookup_order",
    description="Find an order.",
    parameters={"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]},
)


class Item(BaseModel):
    name: str


class Basket(BaseModel):
    items: list[Item]


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> Transport:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
async def llama() -> AsyncIterator[FakeModelServer]:
    async with FakeModelServer(emulate="llama-cpp-python") as server:
        yield server


def provider(fake: FakeModelServer, transport: Transport = "direct", **settings: Any) -> OpenAIChatModel:
    return OpenAIChatModel(
        "smollm2",
        base_url=fake.openai_base_url,
        timeout=10,
        transport=transport,
        settings=EndpointSettings(**settings),
    )


def basket_reply(request: ModelRequest) -> str:
    return '{"items": [{"name": "tea"}]}'


async def test_detected_server_gets_json_object_with_an_inlined_schema(
    llama: FakeModelServer, transport: Transport
) -> None:
    llama.set_handler(basket_reply)
    model = provider(llama, transport)
    try:
        result = await structured_call(model, system=None, input="fill the basket", output_type=Basket)
    finally:
        await model.aclose()
    assert result.value == Basket(items=[Item(name="tea")])
    assert model.capabilities.profile.server == "llama-cpp-python"
    assert llama.count == 1  # no refused first try: the profile knew
    fmt = llama.log[0].body["response_format"]
    assert fmt["type"] == "json_object"
    assert "$ref" not in str(fmt["schema"]) and "$defs" not in fmt["schema"]
    assert fmt["schema"]["properties"]["items"]["items"]["properties"]["name"] == {"title": "Name", "type": "string"}


async def test_an_unknown_server_that_refuses_json_schema_falls_back_once(
    llama: FakeModelServer, caplog: pytest.LogCaptureFixture
) -> None:
    llama.set_handler(basket_reply)
    model = provider(llama, server="generic")  # as if detection had found nothing
    try:
        for _ in range(3):
            await structured_call(model, system=None, input="fill the basket", output_type=Basket)
    finally:
        await model.aclose()
    types = [entry.body["response_format"]["type"] for entry in llama.log]
    assert types == ["json_schema", "json_object", "json_object", "json_object"]
    assert [entry.status for entry in llama.log] == [500, 200, 200, 200]
    assert len(model.capabilities.fallbacks) == 1
    said = [r.getMessage() for r in caplog.records if "refused a request parameter" in r.getMessage()]
    assert len(said) == 1 and "json_schema -> json_object" in said[0]


async def test_explicit_structured_output_is_obeyed_and_a_refusal_names_the_key(llama: FakeModelServer) -> None:
    llama.set_handler(basket_reply)
    spec_location = "inference_config.roles.planner"
    model = provider(llama, structured_output="json_schema", location=spec_location)
    stack = build_model_stack(model, policies=ModelPolicies())
    with pytest.raises(RequestRefusedError) as caught:
        await structured_call(stack, system=None, input="fill the basket", output_type=Basket)
    await stack.aclose()
    error = caught.value
    assert error.param == "response_format" and error.status == 500
    assert f"{spec_location}.structured_output" in (error.hint or "")
    assert llama.count == 1  # not retried: resending the same parameter cannot help


async def test_prompt_mode_sends_no_response_format(llama: FakeModelServer) -> None:
    llama.set_handler(basket_reply)
    model = provider(llama, structured_output="prompt")
    try:
        await structured_call(model, system=None, input="fill the basket", output_type=Basket)
    finally:
        await model.aclose()
    body = llama.log[0].body
    assert "response_format" not in body and "guided_json" not in body
    assert "JSON Schema" in body["messages"][-1]["content"]  # the schema stays in the prompt


def order_history() -> tuple[list[Message], ToolCall]:
    call = ToolCall.make("lookup_order", {"order_id": "A1"}, id="call_1")
    assistant = Message.assistant(None, [call])
    assistant.reasoning = "the user wants their order"
    return [Message.user("where is A1?"), assistant, Message.tool("call_1", '{"status": "shipped"}')], call


async def test_tool_call_only_assistant_messages_carry_null_content(transport: Transport) -> None:
    history, call = order_history()
    async with FakeModelServer(lambda request: "Your order shipped.") as server:
        model = OpenAIChatModel("m", base_url=server.openai_base_url, transport=transport)
        try:
            response = await model.generate(ModelRequest(messages=history, tools=[LOOKUP], tool_choice="auto"))
        finally:
            await model.aclose()
    assert response.text == "Your order shipped."
    body = server.log[0].body
    assert body["messages"][1] == {"role": "assistant", "content": None, "tool_calls": [call.model_dump(mode="json")]}
    assert all("reasoning" not in m and "finish_reason" not in m for m in body["messages"])


async def test_llama_cpp_python_gets_empty_content_by_profile_or_after_one_refusal(
    llama: FakeModelServer, transport: Transport
) -> None:
    history, _ = order_history()
    request = ModelRequest(messages=history, tools=[LOOKUP], tool_choice="none")
    detected, unknown = provider(llama, transport), provider(llama, transport, server="generic")
    try:
        await detected.generate(request)
        assert [e.status for e in llama.log] == [200] and llama.log[0].body["messages"][1]["content"] == ""
        await unknown.generate(request)
        await unknown.generate(request)
    finally:
        await detected.aclose()
        await unknown.aclose()
    assert [e.status for e in llama.log] == [200, 500, 200, 200]
    assert [e.body["messages"][1]["content"] for e in llama.log[1:]] == [None, "", ""]
    assert len(unknown.capabilities.fallbacks) == 1


async def test_a_server_that_cannot_write_text_beside_tools_is_asked_again_without_them(
    llama: FakeModelServer,
) -> None:
    llama.set_handler(lambda request: "Happy to help.")
    model = provider(llama)
    try:
        response = await model.generate(ModelRequest(messages=[Message.user("hi")], tools=[LOOKUP]))
    finally:
        await model.aclose()
    assert response.text == "Happy to help."
    assert [e.body["tool_choice"] for e in llama.log] == ["auto", "none"]
    assert response.usage.requests == 2  # both requests are counted


async def test_tool_choice_required_falls_back_and_tools_are_offered_explicitly(llama: FakeModelServer) -> None:
    other = LOOKUP.model_copy(update={"name": "cancel_order"})
    model = provider(llama)
    try:
        await model.generate(ModelRequest(messages=[Message.user("hi")], tools=[LOOKUP, other], tool_choice="required"))
        await model.generate(ModelRequest(messages=[Message.user("hi")], tools=[LOOKUP], tool_choice="required"))
        await model.generate(ModelRequest(messages=[Message.user("hi")], tools=[LOOKUP]))
    finally:
        await model.aclose()
    choices = [entry.body["tool_choice"] for entry in llama.log]
    assert choices == ["auto", {"type": "function", "function": {"name": "lookup_order"}}, "auto"]
    assert [entry.status for entry in llama.log] == [200, 200, 200]
    assert llama.requests[2].tools  # without an explicit tool_choice this server hides the tools


async def test_sloppy_tool_arguments_are_repaired_and_recorded(llama: FakeModelServer) -> None:
    llama.set_handler(lambda request: Message.assistant(None, [ToolCall.make("lookup_order", {"order_id": "A1"})]))
    llama.faults.inject("sloppy_tool_args")
    llama.faults.inject("bad_tool_args")
    model = provider(llama)
    request = ModelRequest(messages=[Message.user("where is A1?")], tools=[LOOKUP], tool_choice="auto")
    try:
        repaired = await model.generate(request)
        cut = await model.generate(request)
    finally:
        await model.aclose()
    call = repaired.message.tool_calls[0]  # type: ignore[index]
    assert call.parsed_arguments() == {"order_id": "A1"}
    assert repaired.message.repaired_arguments == {call.id: "{'order_id': 'A1',}"}
    bad = cut.message.tool_calls[0]  # type: ignore[index]
    assert cut.message.repaired_arguments is None  # cut off: ambiguous, left for the tool error
    with pytest.raises(ValueError):
        bad.parsed_arguments()

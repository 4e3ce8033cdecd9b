"""`ModelRequest.cache_prefix` on Anthropic: a breakpoint after the stable prefix, cached tokens in usage."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from provider_helpers import TEST_KEY

from envsim.config.models import EnvironmentConfig
from envsim.environments import EnvironmentSet
from envsim.messages import Message, ToolCall
from envsim.models.anthropic_provider import EPHEMERAL, AnthropicChatModel
from envsim.models.base import ModelRequest
from envsim.testing.fake_server import FakeModelServer


@pytest.fixture
async def model(server: FakeModelServer) -> AsyncIterator[AnthropicChatModel]:
    m = AnthropicChatModel("claude-sonnet-5", base_url=server.anthropic_base_url, api_key=TEST_KEY, timeout=5)
    yield m
    await m.aclose()


def conversation(cache_prefix: int | None) -> ModelRequest:
    messages = [Message.system("rules"), Message.user("a long document"), Message.assistant("read"), Message.user("q")]
    return ModelRequest(messages=messages, cache_prefix=cache_prefix)


def test_a_prefix_beyond_the_system_prompt_gets_its_own_breakpoint(model: AnthropicChatModel) -> None:
    params, _ = model.build_params(conversation(2))
    assert params["system"][-1]["cache_control"] == EPHEMERAL
    first, second, third = params["messages"]
    assert first["content"][-1]["cache_control"] == EPHEMERAL
    assert all("cache_control" not in block for turn in (second, third) for block in turn["content"])


def test_a_system_only_prefix_and_disabled_caching_add_nothing(model: AnthropicChatModel) -> None:
    params, _ = model.build_params(conversation(1))
    assert all("cache_control" not in block for turn in params["messages"] for block in turn["content"])
    model.prompt_caching = False
    params, _ = model.build_params(conversation(2))
    assert "cache_control" not in params["system"][-1]
    assert all("cache_control" not in block for turn in params["messages"] for block in turn["content"])


def test_the_hint_is_not_part_of_the_requests_identity() -> None:
    assert conversation(2).canonical_key("m") == conversation(None).canonical_key("m")


async def test_simulated_tools_read_their_shared_prefix_from_the_prompt_cache(
    server: FakeModelServer, model: AnthropicChatModel
) -> None:
    server.set_handler(lambda request: json.dumps({"output": "ok", "patch": []}))
    config = EnvironmentConfig.model_validate(
        {
            "id": "crm",
            "type": "synthetic",
            "system_prompt": "You are a CRM.",
            "state_params": {"initial_state": {"contacts": {"c1": {"name": "Ana"}}}},
            "tools": [
                {"id": "get_contact", "read_only": True, "parameters": {"type": "object", "properties": {}}},
                {"id": "list_contacts", "read_only": True, "parameters": {"type": "object", "properties": {}}},
            ],
        }
    )
    envs = EnvironmentSet.build([config], model=model)
    first = await envs.step(ToolCall.make("get_contact", {}, id="a"))
    second = await envs.step(ToolCall.make("list_contacts", {}, id="b"))  # another tool, same stable prefix
    assert first.usage is not None and second.usage is not None
    assert first.usage.cache_write_tokens > 0 and first.usage.cache_read_tokens == 0
    assert second.usage.cache_read_tokens == first.usage.cache_write_tokens
    assert server.log[-1].body["system"][-1]["cache_control"] == EPHEMERAL

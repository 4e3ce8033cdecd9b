"""The kill switch: in tests, a provider aimed at a real endpoint fails at once; loopback stays allowed."""

from __future__ import annotations

import pytest

from envsim.errors import RealModelRequestBlocked
from envsim.messages import Message
from envsim.models.base import ModelRequest
from envsim.models.registry import create_model
from envsim.testing import FakeModelServer


@pytest.mark.parametrize("model", ["openai:gpt-4o-mini", "anthropic:claude-sonnet-4-5"])
async def test_real_endpoints_are_blocked_in_tests(model: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-not-a-real-key")
    chat = create_model(model)
    with pytest.raises(RealModelRequestBlocked, match="switched off") as info:
        await chat.generate(ModelRequest(messages=[Message.user("hi")]))
    assert "not-a-real-key" not in info.value.render()


async def test_loopback_fake_server_is_allowed() -> None:
    async with FakeModelServer(lambda request: "pong") as server:
        chat = create_model(f"openai:gpt-4o-mini@{server.openai_base_url}")
        response = await chat.generate(ModelRequest(messages=[Message.user("ping")]))
        await chat.aclose()
    assert response.text == "pong"

"""Truncated replies (problem 6) and usage of every request, failed or not (problem 7)."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from envsim.errors import ModelError, OutputValidationError
from envsim.messages import Message
from envsim.models.base import GenerationParams, ModelRequest
from envsim.models.openai_provider import OpenAIChatModel
from envsim.models.retry import RetryPolicy
from envsim.models.stack import ModelPolicies, build_model_stack
from envsim.models.structured import structured_call
from envsim.testing.fake_server import FakeModelServer

LONG_JSON = '{"summary": "' + "word " * 60 + '"}'


class Summary(BaseModel):
    summary: str


def policies() -> ModelPolicies:
    return ModelPolicies(retry=RetryPolicy(max_attempts=2, initial_delay=0.0, jitter=False))


async def test_a_cut_off_structured_reply_is_asked_again_with_a_larger_limit() -> None:
    async with FakeModelServer(lambda request: LONG_JSON, emulate="llama-cpp-python") as server:
        stack = build_model_stack(OpenAIChatModel("m", base_url=server.openai_base_url), policies=policies())
        try:
            result = await structured_call(
                stack, system=None, input="sum up", output_type=Summary, params=GenerationParams(max_tokens=40)
            )
        finally:
            await stack.aclose()
    limits = [entry.body["max_tokens"] for entry in server.log]
    assert limits == [40, 80]  # the first reply was cut at 40 tokens; 80 fit
    assert result.attempts == 1 and result.value.summary.startswith("word")
    assert result.usage.requests == 2  # both requests are counted


async def test_a_reply_that_stays_cut_off_fails_saying_so() -> None:
    async with FakeModelServer(lambda request: LONG_JSON, emulate="llama-cpp-python") as server:
        model = OpenAIChatModel("m", base_url=server.openai_base_url)  # no stack: no re-ask with a larger limit
        try:
            with pytest.raises(OutputValidationError, match="cut off at the token limit") as caught:
                await structured_call(
                    model,
                    system=None,
                    input="sum up",
                    output_type=Summary,
                    params=GenerationParams(max_tokens=10),
                    max_validation_attempts=1,
                )
        finally:
            await model.aclose()
    assert "max_new_tokens" in str(caught.value)


async def test_a_cut_off_text_reply_is_marked_on_its_message() -> None:
    async with FakeModelServer(lambda request: "word " * 40, emulate="llama-cpp-python") as server:
        model = OpenAIChatModel("m", base_url=server.openai_base_url)
        try:
            response = await model.generate(
                ModelRequest(messages=[Message.user("go on")], params=GenerationParams(max_tokens=5))
            )
        finally:
            await model.aclose()
    assert response.finish_reason == "length"
    assert response.message.finish_reason == "length"
    assert "finish_reason" not in response.message.to_openai()  # envsim's record, never sent back


async def test_failed_requests_are_counted_in_usage() -> None:
    async with FakeModelServer() as server:
        server.faults.inject("server_error", times=10)
        p = policies()
        stack = build_model_stack(OpenAIChatModel("m", base_url=server.openai_base_url), policies=p)
        request = ModelRequest(messages=[Message.user("hi")])
        try:
            for _ in range(2):
                with pytest.raises(ModelError):
                    await stack.generate(
                        request.model_copy(
                            update={
                                "context": request.context.model_copy(update={"role": "user", "episode_id": "ep-1"})
                            }
                        )
                    )
        finally:
            await stack.aclose()
    assert server.count == 4  # two calls, two attempts each
    assert p.tracker.total().requests == 4
    assert p.tracker.by_role()["user"].retries == 2
    assert p.tracker.episode("ep-1")["user"].requests == 4  # in the episode's trace usage too

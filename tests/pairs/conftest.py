"""Seeds and stand-in models for pairs jobs."""

from __future__ import annotations

import asyncio

import pytest

from envsim.models.base import ModelRequest, ModelResponse
from envsim.pairs.runner import PairsModels
from envsim.pairs.types import Example
from envsim.testing import FunctionModel
from envsim.testing.scripted import ReplyFunction
from tests.pairs.fake_generator import reply

SUPPORT_PROMPT = "You are Acme's support assistant. Answer in two sentences."


@pytest.fixture
def seeds() -> list[Example]:
    return [
        Example(llm_input="I was charged twice for my March invoice.", llm_output="I refunded the duplicate."),
        Example(llm_input="How do I change the email on my account?", llm_output="Settings > Profile > Edit."),
        Example(llm_input="My parcel has not moved in a week.", llm_output="I opened a trace with the carrier."),
        Example(llm_input="Can I downgrade my plan mid-cycle?", llm_output="Yes, from the next invoice."),
    ]


class RecordingModel(FunctionModel):
    """A FunctionModel that keeps every request it got."""

    def __init__(self, fn: ReplyFunction, name: str) -> None:
        super().__init__(fn, name=name)
        self.requests: list[ModelRequest] = []

    async def generate(self, request: ModelRequest) -> ModelResponse:
        self.requests.append(request)
        return await super().generate(request)


def generator_model(delay: float = 0.0, name: str = "function:generator") -> RecordingModel:
    """The fake generator, optionally slow (each call sleeps `delay` seconds)."""

    async def slow(request: ModelRequest) -> str:
        if delay:
            await asyncio.sleep(delay)
        return reply(request)

    return RecordingModel(slow, name=name)


def models(delay: float = 0.0) -> PairsModels:
    generator = generator_model(delay)
    return PairsModels(generator=generator, responder=generator)

"""Generated attributes: rendered instructions, text and structured calls, post-processing outputs."""

from __future__ import annotations

import pytest

from envsim.attributes.generation import generate_attribute, output_names
from envsim.attributes.sampling import SampledValue
from envsim.config.models import GeneratedAttribute
from envsim.errors import OutputValidationError
from envsim.models.base import GenerationParams
from envsim.testing import ScriptedModel, ScriptStep

TONE = SampledValue("tone", "Tone", "", "calm", "Calm", "Speaks slowly")


def generated(**fields: object) -> GeneratedAttribute:
    base: dict[str, object] = {
        "id": "question",
        "instruction_messages": [
            {"role": "SYSTEM", "content": "You write customer questions."},
            {"role": "USER", "content": "Write a {tone} question ({tone.description})."},
        ],
    }
    return GeneratedAttribute.model_validate({**base, **fields})


async def test_text_generation_renders_messages_and_tags_the_request() -> None:
    model = ScriptedModel([ScriptStep("Where is my order?", expect_role="attribute")])
    params = GenerationParams(temperature=0.3)
    result = await generate_attribute(
        generated(),
        {"tone": TONE},
        model,
        location="strategy_params.generated_attributes[0]",
        episode_id="ep-1",
        params=params,
    )
    assert result.values == {"question": "Where is my order?"}
    request = model.requests[0]
    assert [m.role for m in request.messages] == ["system", "user"]
    assert request.messages[1].content == "Write a Calm question (Speaks slowly)."
    assert request.context.episode_id == "ep-1"
    assert request.params.temperature == 0.3
    assert result.usage.requests == 1


async def test_postprocessing_keeps_original_under_own_id() -> None:
    attr = generated(postprocessing_params={"id": "clean", "cut_prefix": "Q:"})
    model = ScriptedModel(["Sure. Q:  Why? "])
    result = await generate_attribute(attr, {"tone": TONE}, model, location="g", episode_id="e")
    assert result.values == {"question": "Sure. Q:  Why? ", "clean": "Why?"}
    assert output_names(attr) == ["question", "clean"]


async def test_postprocessing_without_original() -> None:
    attr = generated(postprocessing_params={"id": "clean", "keep_original_text_attribute": False})
    result = await generate_attribute(attr, {"tone": TONE}, ScriptedModel([" x "]), location="g", episode_id="e")
    assert result.values == {"clean": "x"}
    assert output_names(attr) == ["clean"]


SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}


async def test_structured_generation_reasks_with_the_validation_error() -> None:
    model = ScriptedModel(["not json at all", '{"nom": 1}', 'Here: ```json\n{"name": "Ann"}\n```'])
    result = await generate_attribute(
        generated(output_schema=SCHEMA), {"tone": TONE}, model, location="g", episode_id="e"
    )
    assert result.values == {"question": {"name": "Ann"}}
    assert result.usage.requests == 3
    assert model.requests[0].response_schema == SCHEMA
    first_prompt = model.requests[0].messages[-1].content or ""
    assert first_prompt.startswith("Write a Calm question") and '"required": ["name"]' in first_prompt
    retry = model.requests[2].messages[-1].content or ""
    assert "name" in retry and "required" in retry  # the schema error is fed back


async def test_structured_generation_gives_up_after_the_budget() -> None:
    model = ScriptedModel(["[]", "[]"])
    with pytest.raises(OutputValidationError, match="after 2 attempt"):
        await generate_attribute(
            generated(output_schema=SCHEMA),
            {"tone": TONE},
            model,
            location="g",
            episode_id="e",
            max_validation_retries=1,
        )

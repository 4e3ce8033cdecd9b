"""AttributePipeline end to end: evaluation order, concurrency, usage, reproducibility, values."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from envsim.attributes.pipeline import AttributePipeline, SampleAttributes
from envsim.config.models import SynthConfig
from envsim.errors import ConfigError, OutputValidationError
from envsim.messages import Message
from envsim.models.base import ModelRequest, ModelResponse, Usage
from envsim.testing import FunctionModel

MakeConfig = Callable[..., SynthConfig]

TONE = {
    "id": "tone",
    "name": "Tone",
    "description": "How the customer sounds",
    "possible_values": [
        {"id": "calm", "name": "Calm", "description": "speaks slowly"},
        {"id": "angry", "name": "Angry", "description": "shouts"},
    ],
}


def gen(attr_id: str, content: str, **extra: Any) -> dict[str, Any]:
    return {"id": attr_id, "instruction_messages": [{"role": "USER", "content": content}], **extra}


def echo_model(delay: float = 0.0) -> FunctionModel:
    async def reply(request: ModelRequest) -> ModelResponse:
        await asyncio.sleep(delay)
        text = f"<{request.messages[-1].content}>"
        return ModelResponse(message=Message.assistant(text), usage=Usage(requests=1, input_tokens=10, output_tokens=2))

    return FunctionModel(reply)


async def test_independent_generated_attributes_run_concurrently(make_config: MakeConfig) -> None:
    config = make_config({"generated_attributes": [gen(f"g{i}", f"prompt {i}") for i in range(4)]})
    pipeline = AttributePipeline.from_config(config, model=echo_model(delay=0.3))
    started = time.perf_counter()
    sample = await pipeline.sample(0, 0, "ep")
    elapsed = time.perf_counter() - started
    assert elapsed < 0.55, f"4 independent 0.3 s calls took {elapsed:.2f} s; they should overlap"
    assert sample.values == {f"g{i}": f"<prompt {i}>" for i in range(4)}


async def test_dependent_attributes_run_in_topological_order(make_config: MakeConfig) -> None:
    config = make_config(
        {
            "sampled_attributes": [TONE],
            # Listed out of dependency order on purpose.
            "transformed_attributes": [
                {"id": "final", "transformation_strategy": {"type": "STRING", "string_transform": "[{answer}]"}}
            ],
            "generated_attributes": [
                gen("answer", "answer {clean_q}"),
                gen("question", "ask as {tone}", postprocessing_params={"id": "clean_q", "cut_prefix": "<"}),
            ],
        }
    )
    model = echo_model(delay=0.05)
    pipeline = AttributePipeline.from_config(config, model=model)
    sample = await pipeline.sample(0, 1, "ep-7")
    tone = sample.values["tone"]
    tone_name = {"calm": "Calm", "angry": "Angry"}[tone]
    assert sample.values["question"] == f"<ask as {tone_name}>"
    assert sample.values["clean_q"] == f"ask as {tone_name}>"
    assert sample.values["answer"] == f"<answer ask as {tone_name}>>"
    assert sample.values["final"] == f"[<answer ask as {tone_name}>>]"
    assert sample.usage.requests == 2 and sample.usage.input_tokens == 20
    assert model.calls == 2


async def test_requests_carry_attribute_role_episode_and_generation_params(make_config: MakeConfig) -> None:
    seen: list[ModelRequest] = []

    def reply(request: ModelRequest) -> str:
        seen.append(request)
        return "ok"

    config = make_config({"generated_attributes": [gen("g", "hi")]})
    config.inference_config.generation.temperature = 0.2
    config.inference_config.generation.max_new_tokens = 64
    pipeline = AttributePipeline.from_config(config, model=FunctionModel(reply))
    await pipeline.sample(3, 0, "episode-3")
    assert seen[0].context.role == "attribute" and seen[0].context.episode_id == "episode-3"
    assert seen[0].params.temperature == 0.2 and seen[0].params.max_tokens == 64


async def test_values_are_json_and_templates_see_whole_sampled_value(tmp_path: Path, make_config: MakeConfig) -> None:
    (tmp_path / "faq.csv").write_text("question,answer\nWhere?,Here.\nWhen?,Now.\n", encoding="utf-8")
    config = make_config(
        {
            "sampled_attributes": [TONE],
            "input_data": [{"path": "faq.csv", "attribute_map": {"question": "q"}}],
            "input_examples": [{"id": "shots", "num_shots": 2, "examples": [{"x": 1}, {"x": 2}, {"x": 3}]}],
            "transformed_attributes": [
                {
                    "id": "card",
                    "transformation_strategy": {
                        "type": "DICT",
                        "dict_transform": {
                            "q": "{q}",
                            "style": "{tone.description} ({tone.parent})",
                            "ex": "{shots[1].x}",
                        },
                    },
                }
            ],
        }
    )
    pipeline = AttributePipeline.from_config(config)
    sample = await pipeline.sample(1, 9, "ep")
    values = sample.values
    json.dumps(values)  # JSON-able as a whole
    assert values["q"] == "When?"  # row 1 of the file, renamed by attribute_map
    assert values["tone"] in ("calm", "angry")  # sampled attributes are stored by value id
    assert values["card"]["style"] in ("speaks slowly (Tone)", "shouts (Tone)")
    assert sample.render("{tone.name}: {tone.parent.description}") in (
        "Calm: How the customer sounds",
        "Angry: How the customer sounds",
    )
    assert len(values["shots"]) == 2


async def test_same_seed_same_values_in_any_order(make_config: MakeConfig) -> None:
    config = make_config(
        {
            "sampled_attributes": [TONE],
            "input_examples": [{"id": "shots", "num_shots": 2, "examples": [{"x": i} for i in range(10)]}],
            "generated_attributes": [gen("g", "{tone} {shots[0].x}")],
        },
        num_samples=20,
    )
    pipeline = AttributePipeline.from_config(config, model=echo_model())
    forward = [(await pipeline.sample(i, 5, f"e{i}")).values for i in range(20)]
    other = AttributePipeline.from_config(config, model=echo_model())
    concurrent = await asyncio.gather(*(other.sample(i, 5, f"e{i}") for i in reversed(range(20))))
    assert forward == [s.values for s in reversed(concurrent)]


NUMBER = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}


async def test_a_failing_generated_attribute_fails_the_sample(make_config: MakeConfig) -> None:
    config = make_config({"generated_attributes": [gen("g", "x", output_schema=NUMBER), gen("h", "y")]})
    pipeline = AttributePipeline.from_config(config, model=FunctionModel(lambda r: "no JSON here"))
    with pytest.raises(OutputValidationError, match="'g'"):
        await pipeline.sample(0, 0, "ep")


def test_generated_attributes_need_a_model(make_config: MakeConfig) -> None:
    with pytest.raises(ConfigError, match="need a model"):
        AttributePipeline.from_config(make_config({"generated_attributes": [gen("g", "x")]}))


def test_source_paths_are_relative_to_the_config_file(tmp_path: Path, make_config: MakeConfig) -> None:
    (tmp_path / "rows.jsonl").write_text('{"a": 1}\n', encoding="utf-8")
    config = make_config({"input_data": [{"path": "rows.jsonl"}]})
    assert AttributePipeline.from_config(config).pools[0].rows == [{"a": 1}]
    other = tmp_path / "other"
    other.mkdir()
    with pytest.raises(ConfigError, match="does not exist"):
        AttributePipeline.from_config(config, base_dir=other)


def test_from_values_restores_sampled_values_for_templates(make_config: MakeConfig) -> None:
    pipeline = AttributePipeline.from_config(make_config({"sampled_attributes": [TONE]}))
    attrs = pipeline.from_values({"tone": "angry", "order_id": "A-1"})
    assert attrs.render("{tone} ({tone.description}) {order_id}") == "Angry (shouts) A-1"
    assert attrs.values == {"tone": "angry", "order_id": "A-1"}
    plain = SampleAttributes.from_values({"tone": "angry"})
    assert plain.render("{tone}") == "angry"


def test_select_honours_passthrough() -> None:
    attrs = SampleAttributes.from_values({"a": 1, "b": 2})
    assert attrs.select(None) == {"a": 1, "b": 2}
    assert attrs.select(["b"]) == {"b": 2}

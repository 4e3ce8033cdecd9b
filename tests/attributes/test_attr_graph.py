"""Load-time checks of the attribute graph: unknown names, cycles, few-shot indexes, duplicates."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from envsim.attributes.pipeline import AttributePipeline, validate_attribute_graph
from envsim.config.models import SynthConfig
from envsim.errors import ConfigError, ConfigErrors
from envsim.testing import ScriptedModel

MakeConfig = Callable[..., SynthConfig]

TONE = {"id": "tone", "possible_values": [{"id": "calm"}, {"id": "angry"}]}


def gen(attr_id: str, *contents: str, **extra: Any) -> dict[str, Any]:
    return {"id": attr_id, "instruction_messages": [{"role": "USER", "content": c} for c in contents], **extra}


def string_transform(attr_id: str, template: str) -> dict[str, Any]:
    return {"id": attr_id, "transformation_strategy": {"type": "STRING", "string_transform": template}}


def errors_of(config: SynthConfig) -> list[ConfigError]:
    return validate_attribute_graph(config)


def test_a_consistent_config_has_no_errors(make_config: MakeConfig) -> None:
    config = make_config(
        {
            "sampled_attributes": [TONE],
            "input_examples": [{"id": "ex", "num_shots": 2, "examples": [{"q": "a"}, {"q": "b"}]}],
            "generated_attributes": [gen("question", "{tone} {tone.parent.description} {ex[1].q}")],
            "transformed_attributes": [string_transform("t", "{question}")],
            "multiturn_attributes": [
                {"id": "chat", "role_instruction_messages": {"USER": "Ask {question}", "ASSISTANT": "Help"}}
            ],
            "passthrough_attributes": ["chat", "chat_plan", "tone"],
        }
    )
    assert errors_of(config) == []


def test_unknown_reference_names_location_name_and_suggestion(make_config: MakeConfig) -> None:
    config = make_config(
        {"sampled_attributes": [TONE], "generated_attributes": [gen("q", "System text", "Write in a {tonee} way")]}
    )
    [error] = errors_of(config)
    assert error.location == "strategy_params.generated_attributes[0].instruction_messages[1].content"
    assert "'tonee'" in error.message
    assert "did you mean {tone}" in (error.hint or "")
    assert error.file is not None and error.file.endswith("config.yaml")


def test_unknown_references_in_every_template_kind(make_config: MakeConfig) -> None:
    config = make_config(
        {
            "transformed_attributes": [
                {"id": "l", "transformation_strategy": {"type": "LIST", "list_transform": ["ok", "{x1}"]}},
                {"id": "d", "transformation_strategy": {"type": "DICT", "dict_transform": {"k": "{x2}"}}},
                {
                    "id": "c",
                    "transformation_strategy": {
                        "type": "CHAT",
                        "chat_transform": [{"role": "USER", "content": "{x3}"}],
                    },
                },
            ],
            "multiturn_attributes": [
                {
                    "id": "chat",
                    "role_instruction_messages": {"USER": "{x4}", "ASSISTANT": "fine"},
                    "output_system_prompt": "{x5}",
                    "conversation_planner": "{x6}",
                }
            ],
        }
    )
    locations = sorted(e.location or "" for e in errors_of(config))
    assert locations == sorted(
        [
            "strategy_params.transformed_attributes[0].transformation_strategy.list_transform[1]",
            "strategy_params.transformed_attributes[1].transformation_strategy.dict_transform.k",
            "strategy_params.transformed_attributes[2].transformation_strategy.chat_transform[0].content",
            "strategy_params.multiturn_attributes[0].role_instruction_messages.USER",
            "strategy_params.multiturn_attributes[0].output_system_prompt",
            "strategy_params.multiturn_attributes[0].conversation_planner",
        ]
    )


def test_cycle_is_named(make_config: MakeConfig) -> None:
    config = make_config(
        {
            "generated_attributes": [gen("a", "{b}"), gen("c", "independent")],
            "transformed_attributes": [string_transform("b", "{a}")],
        }
    )
    [error] = errors_of(config)
    assert "a -> b -> a" in error.message
    with pytest.raises(ConfigError, match="a -> b -> a"):
        AttributePipeline.from_config(config, model=ScriptedModel([]))


def test_self_reference_is_a_cycle(make_config: MakeConfig) -> None:
    [error] = errors_of(make_config({"transformed_attributes": [string_transform("me", "{me}!")]}))
    assert "me -> me" in error.message


def test_cycle_through_postprocessed_output(make_config: MakeConfig) -> None:
    config = make_config(
        {
            "generated_attributes": [gen("raw", "{summary}", postprocessing_params={"id": "clean"})],
            "transformed_attributes": [string_transform("summary", "{clean}")],
        }
    )
    [error] = errors_of(config)
    assert "raw -> summary -> raw" in error.message


def test_few_shot_index_out_of_range_and_missing_index(make_config: MakeConfig) -> None:
    rows = [{"q": str(i), "a": "x"} for i in range(5)]
    config = make_config(
        {
            "input_examples": [{"id": "examples", "num_shots": 3, "examples": rows}],
            "transformed_attributes": [
                string_transform("ok", "{examples[2].q}"),
                string_transform("bad_index", "{examples[5].q}"),
                string_transform("no_index", "{examples.q}"),
                string_transform("bad_field", "{examples[0].qq}"),
            ],
        }
    )
    errors = {e.location: e for e in errors_of(config)}
    assert set(errors) == {
        f"strategy_params.transformed_attributes[{i}].transformation_strategy.string_transform" for i in (1, 2, 3)
    }
    out_of_range = errors["strategy_params.transformed_attributes[1].transformation_strategy.string_transform"]
    assert "index 5 is out of range" in out_of_range.message and "num_shots 3" in out_of_range.message
    bad_field = errors["strategy_params.transformed_attributes[3].transformation_strategy.string_transform"]
    assert "did you mean {examples[0].q}" in (bad_field.hint or "")


def test_round_robin_field_missing_in_some_rows(make_config: MakeConfig) -> None:
    config = make_config(
        {
            "input_examples": [{"examples": [{"q": "1", "a": "x"}, {"q": "2"}]}],
            "transformed_attributes": [string_transform("t", "{q} {a}")],
        }
    )
    [error] = errors_of(config)
    assert "row 2 of inline examples has no 'a'" in error.message


def test_sampled_attribute_fields_are_checked(make_config: MakeConfig) -> None:
    config = make_config(
        {
            "sampled_attributes": [TONE],
            "transformed_attributes": [
                string_transform("ok", "{tone.id} {tone.name} {tone.parent.name} {tone.parent.description}"),
                string_transform("bad", "{tone.__class__}"),
                string_transform("bad2", "{tone.parent.parent}"),
            ],
        }
    )
    assert [e.location for e in errors_of(config)] == [
        "strategy_params.transformed_attributes[1].transformation_strategy.string_transform",
        "strategy_params.transformed_attributes[2].transformation_strategy.string_transform",
    ]


def test_multiturn_output_cannot_feed_attributes(make_config: MakeConfig) -> None:
    config = make_config(
        {
            "multiturn_attributes": [{"id": "chat", "role_instruction_messages": {"USER": "u", "ASSISTANT": "a"}}],
            "transformed_attributes": [string_transform("t", "{chat}")],
        }
    )
    [error] = errors_of(config)
    assert "produced by the conversation" in error.message


def test_duplicates_passthrough_and_config_conflicts(make_config: MakeConfig) -> None:
    config = make_config(
        {
            "sampled_attributes": [TONE],
            "input_examples": [{"examples": [{"tone": "x"}]}],
            "generated_attributes": [
                gen("s", "x", output_schema={"type": "object"}, postprocessing_params={"id": "s2"}),
                gen("r", "x", postprocessing_params={"id": "r2", "regex": "(unclosed"}),
            ],
            "transformed_attributes": [{"id": "t", "transformation_strategy": {"type": "DICT"}}],
            "passthrough_attributes": ["tone", "tones"],
        }
    )
    messages = [e.message for e in errors_of(config)]
    assert any("'tone' is defined twice" in m for m in messages)
    assert any("both output_schema and postprocessing_params" in m for m in messages)
    assert any("invalid regex" in m for m in messages)
    assert any("has no dict_transform" in m for m in messages)
    assert not any("tones" in m for m in messages)  # ignored, as oumi does (validate lists it)
    with pytest.raises(ConfigErrors):
        AttributePipeline.from_config(config, model=ScriptedModel([]))


def test_validation_reports_source_and_rate_errors_together(make_config: MakeConfig) -> None:
    config = make_config(
        {
            "sampled_attributes": [
                {"id": "t", "possible_values": [{"id": "a", "sample_rate": 0.9}, {"id": "b", "sample_rate": 0.9}]}
            ],
            "input_data": [{"path": "missing.csv"}],
            "transformed_attributes": [string_transform("x", "{col_from_missing_file}")],
        }
    )
    errors = errors_of(config)
    assert len(errors) == 2  # the unknown reference is not reported: the source could not be read
    assert errors[0].location == "strategy_params.sampled_attributes[0].possible_values"
    assert errors[1].location == "strategy_params.input_data[0].path"

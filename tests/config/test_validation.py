"""Load-time semantic rules, each reported at the exact path with a fix."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from config_helpers import MODEL, WriteFile, by_location, config_errors, where

from envsim.config import validation
from envsim.config.loader import load_config
from envsim.config.models import SynthConfig
from envsim.errors import ConfigError

ENVS = "environment_config.environments"


def envs_config(*envs: str, strategy: str = "") -> str:
    """A config with the given environments (one flow mapping each) and optional strategy_params YAML."""
    lines = ["environment_config:", "  environments:"] + [f"    - {env}" for env in envs]
    return "\n".join(lines) + "\n" + strategy + MODEL


def test_valid_config_loads(write: WriteFile) -> None:
    config = load_config(write("c.yaml", envs_config("{id: a, type: synthetic, tools: [{id: t}]}")))
    assert isinstance(config, SynthConfig)


def test_environment_ids_unique(write: WriteFile) -> None:
    errors = config_errors(write("c.yaml", envs_config("{id: a, type: synthetic}", "{id: a, type: synthetic}")))
    assert where(errors) == [("c.yaml", f"{ENVS}[1].id")]
    assert errors[0].message == f"environment id 'a' is already used by {ENVS}[0]"


def test_tool_ids_unique_within_environment(write: WriteFile) -> None:
    errors = config_errors(write("c.yaml", envs_config("{id: a, type: synthetic, tools: [{id: t}, {id: t}]}")))
    assert where(errors) == [("c.yaml", f"{ENVS}[0].tools[1].id")]


MULTI = """
strategy_params:
  multiturn_attributes:
    - id: chat
      role_instruction_messages: {USER: u, ASSISTANT: a}
      available_environments: {envs}
      available_tools: {tools}
"""


def multiturn(envs: str = "[]", tools: str = "[]") -> str:
    return MULTI.replace("{envs}", envs).replace("{tools}", tools).lstrip("\n")


def test_tool_ids_unique_across_environments_a_conversation_sees(write: WriteFile) -> None:
    text = envs_config(
        "{id: a, type: synthetic, tools: [{id: t}]}",
        "{id: b, type: synthetic, tools: [{id: t}]}",
        strategy=multiturn(),
    )
    errors = config_errors(write("c.yaml", text))
    assert where(errors) == [("c.yaml", f"{ENVS}[1].tools[0].id")]
    assert "multiturn attribute 'chat' sees both" in errors[0].message


def test_same_tool_id_is_fine_when_no_conversation_sees_both(write: WriteFile) -> None:
    text = envs_config(
        "{id: a, type: synthetic, tools: [{id: t}]}",
        "{id: b, type: synthetic, tools: [{id: t}]}",
        strategy=multiturn(envs="[a]"),
    )
    load_config(write("c.yaml", text))


def test_available_environments_and_tools_must_exist(write: WriteFile) -> None:
    text = envs_config(
        "{id: support, type: synthetic, tools: [{id: create_ticket}]}",
        "{id: other, type: synthetic, tools: [{id: hidden}]}",
        strategy=multiturn(envs="[suport]", tools="[create_tiket, hidden]"),
    )
    errors = config_errors(write("c.yaml", text))
    loc = "strategy_params.multiturn_attributes[0]"
    assert where(errors) == [
        ("c.yaml", f"{loc}.available_environments[0]"),
        ("c.yaml", f"{loc}.available_tools[0]"),
        ("c.yaml", f"{loc}.available_tools[1]"),
    ]
    assert errors[0].hint == "did you mean 'support'?"
    assert "not in the environments this attribute can see" in errors[2].message


@pytest.mark.parametrize(
    ("tool", "location"),
    [
        ("{id: t, parameters: {type: objekt}}", "tools[0].parameters"),
        ("{id: t, output_schema: {type: [1]}}", "tools[0].output_schema"),
        ("{id: t, parameters: {type: string}}", "tools[0].parameters"),
    ],
)
def test_tool_schemas_must_be_valid_json_schemas(write: WriteFile, tool: str, location: str) -> None:
    errors = config_errors(write("c.yaml", envs_config(f"{{id: a, type: synthetic, tools: [{tool}]}}")))
    assert where(errors) == [("c.yaml", f"{ENVS}[0].{location}")]


def test_state_schema_must_be_valid(write: WriteFile) -> None:
    env = "{id: a, type: synthetic, state_params: {state_schema: {type: 5}}}"
    errors = config_errors(write("c.yaml", envs_config(env)))
    assert where(errors) == [("c.yaml", f"{ENVS}[0].state_params.state_schema")]
    assert errors[0].message.startswith("not a valid JSON Schema")


def test_initial_state_must_match_state_schema(write: WriteFile) -> None:
    env = (
        "{id: a, type: synthetic, state_params: {state_schema: {type: object, required: [tickets],"
        " properties: {tickets: {type: array}}}, initial_state: {tickets: 3}}}"
    )
    errors = config_errors(write("c.yaml", envs_config(env)))
    assert where(errors) == [("c.yaml", f"{ENVS}[0].state_params.initial_state")]
    assert "at /tickets: 3 is not of type 'array'" in errors[0].message


POLICY_PARAMS = "{type: object, properties: {kind: {type: string, default: standard}, n: {type: integer}}}"


def deterministic(outputs: str, extra: str = "") -> str:
    tool = f"{{id: get, parameters: {POLICY_PARAMS}{extra}, deterministic_outputs: {outputs}}}"
    return f"{{id: p, type: deterministic, tools: [{tool}]}}"


def test_deterministic_inputs_validate_after_filling_defaults(write: WriteFile) -> None:
    outputs = "[{input: {n: 1}, output: a}, {input: {n: one}, output: b}]"
    errors = config_errors(write("c.yaml", envs_config(deterministic(outputs))))
    assert where(errors) == [("c.yaml", f"{ENVS}[0].tools[0].deterministic_outputs[1].input")]
    assert "at /n: 'one' is not of type 'integer'" in errors[0].message


def test_duplicate_inputs_after_defaults_are_an_error(write: WriteFile) -> None:
    outputs = "[{input: {n: 1}, output: a}, {input: {n: 1, kind: standard}, output: b}]"
    errors = config_errors(write("c.yaml", envs_config(deterministic(outputs))))
    assert where(errors) == [("c.yaml", f"{ENVS}[0].tools[0].deterministic_outputs[1].input")]
    assert errors[0].message == (
        "duplicate input: entry [0] of this tool's table has the same input (after filling schema defaults)"
    )


def test_deterministic_outputs_validate_against_output_schema(write: WriteFile) -> None:
    outputs = "[{input: {n: 1}, output: {ok: true}}, {input: {n: 2}, output: {ok: maybe}}]"
    extra = ", output_schema: {type: object, properties: {ok: {type: boolean}}}, default_output: 3"
    errors = config_errors(write("c.yaml", envs_config(deterministic(outputs, extra))))
    assert where(errors) == [
        ("c.yaml", f"{ENVS}[0].tools[0].deterministic_outputs[1].output"),
        ("c.yaml", f"{ENVS}[0].tools[0].default_output"),
    ]


def test_deterministic_tool_needs_outputs_or_default(write: WriteFile) -> None:
    errors = config_errors(write("c.yaml", envs_config("{id: p, type: deterministic, tools: [{id: t}]}")))
    assert where(errors) == [("c.yaml", f"{ENVS}[0].tools[0]")]
    assert "no deterministic_outputs and no default_output" in errors[0].message


def test_default_output_null_counts_as_given(write: WriteFile) -> None:
    load_config(write("c.yaml", envs_config("{id: p, type: deterministic, tools: [{id: t, default_output: null}]}")))


def test_deterministic_cannot_have_state(write: WriteFile) -> None:
    env = "{id: p, type: deterministic, state_params: {initial_state: {}}, tools: [{id: t, default_output: 1}]}"
    errors = config_errors(write("c.yaml", envs_config(env)))
    assert where(errors) == [("c.yaml", f"{ENVS}[0].state_params")]


def test_python_tools_need_a_handler_or_module(write: WriteFile) -> None:
    text = envs_config(
        "{id: py, type: python, tools: [{id: a}, {id: b, handler: 'mod:fn'}, {id: c, handler: no_colon}]}",
        "{id: py2, type: python, module: my.tools, tools: [{id: d}]}",
    )
    errors = config_errors(write("c.yaml", text))
    assert where(errors) == [("c.yaml", f"{ENVS}[0].tools[0]"), ("c.yaml", f"{ENVS}[0].tools[2].handler")]


def test_kind_specific_keys_on_the_wrong_kind_are_errors(write: WriteFile) -> None:
    text = envs_config(
        "{id: s, type: synthetic, module: x,"
        " tools: [{id: a, handler: 'm:f', deterministic_outputs: [{input: {}, output: 1}]}]}",
        "{id: d, type: deterministic, system_prompt: hi, tools: [{id: b, default_output: 1, handler: 'm:f'}]}",
    )
    errors = config_errors(write("c.yaml", text))
    # A handler on a synthetic tool is fine (a hybrid environment runs it as Python), not on a deterministic one.
    assert where(errors) == [
        ("c.yaml", f"{ENVS}[0].module"),
        ("c.yaml", f"{ENVS}[0].tools[0].deterministic_outputs"),
        ("c.yaml", f"{ENVS}[1].system_prompt"),
        ("c.yaml", f"{ENVS}[1].tools[0].handler"),
    ]


def test_state_views_are_checked(write: WriteFile) -> None:
    tool = (
        "{id: get_order, parameters: {type: object, properties: {order_id: {type: string}}},"
        " state_view: {pointers: ['/orders/{order_id}', 'orders', '/users/{user}'],"
        " queries: [{collection: /orders, where: {user_id: '{uid}'}}]}, allow_create: [/tickets]}"
    )
    text = envs_config(
        "{id: s, type: synthetic, state_params: {initial_state: {orders: {}}}, tools: [" + tool + "]}",
        "{id: p, type: python, tools: [{id: a, handler: 'm:f', allow_create: [/x]}]}",
    )
    errors = config_errors(write("c.yaml", text))
    tools = f"{ENVS}[0].tools[0].state_view"
    assert where(errors) == [
        ("c.yaml", f"{tools}.queries[0].where.user_id"),
        ("c.yaml", f"{tools}.pointers[1]"),
        ("c.yaml", f"{tools}.pointers[2]"),
        ("c.yaml", f"{ENVS}[1].tools[0].allow_create"),
    ]
    assert "{uid} names no parameter" in errors[0].message and "order_id" in (errors[0].hint or "")
    assert "is not a JSON Pointer" in errors[1].message


def test_min_turns_not_above_max_turns(write: WriteFile) -> None:
    strategy = (
        "strategy_params:\n  multiturn_attributes:\n"
        "    - {id: c, min_turns: 4, max_turns: 2, role_instruction_messages: {USER: u, ASSISTANT: a}}\n"
    )
    errors = config_errors(write("c.yaml", strategy, MODEL))
    assert where(errors) == [("c.yaml", "strategy_params.multiturn_attributes[0].min_turns")]


def test_role_instruction_messages_need_user_and_assistant(write: WriteFile) -> None:
    strategy = (
        "strategy_params:\n  multiturn_attributes:\n    - {id: c, role_instruction_messages: {USER: u, ASISTANT: a}}\n"
    )
    errors = config_errors(write("c.yaml", strategy, MODEL))
    loc = "strategy_params.multiturn_attributes[0].role_instruction_messages"
    assert where(errors) == [("c.yaml", loc), ("c.yaml", f"{loc}.ASISTANT")]
    assert errors[0].message == "role_instruction_messages has no ASSISTANT entry"
    assert errors[1].hint == "did you mean 'ASSISTANT'?"


SAMPLED = """
strategy_params:
  sampled_attributes:
    - id: tone
      possible_values:
        - {id: calm, sample_rate: 0.7}
        - {id: angry, sample_rate: 0.5}
    - id: topic
      possible_values:
        - {id: billing, sample_rate: 0.1}
        - {id: shipping, sample_rate: 0.2}
        - {id: returns, sample_rate: 0.7}
"""


def test_sampled_rates_must_not_exceed_one(write: WriteFile) -> None:
    errors = config_errors(write("c.yaml", SAMPLED, MODEL))
    assert where(errors) == [("c.yaml", "strategy_params.sampled_attributes[0].possible_values")]
    assert errors[0].message == "the sample_rates of 'tone' add up to 1.2, more than 1"


def test_combination_sampling_refers_to_existing_ids_and_rates(write: WriteFile) -> None:
    combos = (
        "  combination_sampling:\n"
        "    - {combination: {tone: calm, topic: biling}, sample_rate: 0.6}\n"
        "    - {combination: {tones: calm}, sample_rate: 0.6}\n"
    )
    fixed = SAMPLED.replace("sample_rate: 0.5", "sample_rate: 0.3")
    errors = config_errors(write("c.yaml", fixed.lstrip("\n") + combos, MODEL))
    assert where(errors) == [
        ("c.yaml", "strategy_params.combination_sampling[0].combination.topic"),
        ("c.yaml", "strategy_params.combination_sampling[1].combination.tones"),
        ("c.yaml", "strategy_params.combination_sampling"),
    ]
    assert errors[0].hint == "did you mean 'billing'?"
    assert errors[1].hint == "did you mean 'tone'?"


def test_attribute_ids_unique_across_kinds(write: WriteFile) -> None:
    strategy = """
    strategy_params:
      sampled_attributes:
        - {id: topic, possible_values: [{id: a}]}
      generated_attributes:
        - id: topic
          instruction_messages: [{role: USER, content: hi}]
      multiturn_attributes:
        - {id: gen, role_instruction_messages: {USER: u, ASSISTANT: a}}
      transformed_attributes:
        - {id: gen, transformation_strategy: {type: STRING, string_transform: x}}
    """
    errors = config_errors(write("c.yaml", strategy, MODEL))
    assert where(errors) == [
        ("c.yaml", "strategy_params.generated_attributes[0].id"),
        ("c.yaml", "strategy_params.multiturn_attributes[0].id"),
    ]
    assert errors[0].message == "attribute id 'topic' is already used by strategy_params.sampled_attributes[0]"


def test_missing_data_files_are_reported(write: WriteFile) -> None:
    write("data/rows.jsonl", "{}\n")
    strategy = """
    strategy_params:
      input_data:
        - {id: rows, path: data/rows.jsonl}
        - {id: more, path: data/*.csv}
    """
    errors = config_errors(write("c.yaml", strategy, MODEL))
    assert where(errors) == [("c.yaml", "strategy_params.input_data[1].path")]


@pytest.fixture
def extra_validator() -> Iterator[None]:
    def no_topic(config: SynthConfig) -> list[ConfigError]:
        ids = [a.id for a in config.strategy_params.sampled_attributes]
        return (
            [ConfigError("no topic", file=config.source_path, location="strategy_params.sampled_attributes")]
            if "topic" not in ids
            else []
        )

    validation.EXTRA_VALIDATORS.append(no_topic)
    yield
    validation.EXTRA_VALIDATORS.remove(no_topic)


@pytest.mark.usefixtures("extra_validator")
def test_extra_validators_run_on_load(write: WriteFile) -> None:
    errors = config_errors(write("c.yaml", "seed: 3\n", MODEL))
    assert where(errors) == [("c.yaml", "strategy_params.sampled_attributes")]
    assert errors[0].message == "no topic"


def test_errors_of_extra_validators_in_catalog_files_are_relocated(write: WriteFile, extra_validator: None) -> None:
    write("envs.yaml", "- {id: a, type: synthetic}\n")
    validation.EXTRA_VALIDATORS.append(
        lambda config: [ConfigError("bad env", location="environment_config.environments[0].id")]
    )
    try:
        errors = config_errors(write("c.yaml", "environment_config_path: envs.yaml\n", MODEL))
    finally:
        validation.EXTRA_VALIDATORS.pop()
    assert by_location(errors, "[0].id").file is not None
    assert ("envs.yaml", "[0].id") in where(errors)

"""Argument checking (shared by every kind) and deterministic lookup tables."""

from __future__ import annotations

from typing import Any

import pytest

from envsim.config.models import EnvironmentConfig
from envsim.environments import EnvironmentSet
from envsim.errors import ConfigError
from envsim.messages import ToolCall

POLICY_PARAMS = {
    "type": "object",
    "additionalProperties": False,
    "required": ["policy_type"],
    "properties": {
        "policy_type": {"type": "string"},
        "region": {"type": "string", "default": "US"},
        "days": {"type": "integer", "minimum": 1},
    },
}


def policy_env(**tool_extra: Any) -> EnvironmentConfig:
    return EnvironmentConfig.model_validate(
        {
            "id": "policy_table",
            "type": "deterministic",
            "tools": [
                {
                    "id": "get_refund_policy",
                    "parameters": POLICY_PARAMS,
                    "deterministic_outputs": [
                        {"input": {"policy_type": "standard"}, "output": {"window": 30, "secret": "S-US"}},
                        {"input": {"policy_type": "standard", "region": "EU"}, "output": {"window": 14}},
                        {"input": {"policy_type": "premium", "region": "US"}, "output": {"window": 60}},
                    ],
                    **tool_extra,
                }
            ],
        }
    )


async def step(envs: EnvironmentSet, name: str, arguments: Any) -> Any:
    return await envs.step(ToolCall.make(name, arguments, id="call_1"))


async def test_match_uses_schema_defaults_on_both_sides() -> None:
    envs = EnvironmentSet.build([policy_env()])
    explicit = await step(envs, "get_refund_policy", {"policy_type": "standard", "region": "US"})
    implicit = await step(envs, "get_refund_policy", {"policy_type": "standard"})
    premium = await step(envs, "get_refund_policy", {"policy_type": "premium"})
    assert explicit.output == implicit.output == {"window": 30, "secret": "S-US"}
    assert premium.output == {"window": 60}
    assert implicit.arguments == {"policy_type": "standard", "region": "US"}
    assert implicit.environment == "policy_table" and implicit.call_id == "call_1" and implicit.patch == []


async def test_unmatched_call_names_differing_keys_without_dumping_the_table() -> None:
    envs = EnvironmentSet.build([policy_env()])
    result = await step(envs, "get_refund_policy", {"policy_type": "standard", "region": "JP"})
    assert result.error == (
        "tool 'get_refund_policy' has no entry for these arguments (3 entries known); "
        "the nearest entry differs in: region"
    )
    assert "S-US" not in result.error and "EU" not in result.error


async def test_default_output_catches_unmatched_calls_even_when_it_is_null() -> None:
    envs = EnvironmentSet.build([policy_env(default_output=None)])
    result = await step(envs, "get_refund_policy", {"policy_type": "gold"})
    assert result.ok and result.output is None
    fallback = EnvironmentSet.build([policy_env(default_output={"window": 0})])
    assert (await step(fallback, "get_refund_policy", {"policy_type": "gold"})).output == {"window": 0}


def test_duplicate_inputs_after_defaults_are_a_config_error() -> None:
    config = policy_env()
    config.tools[0].deterministic_outputs[1].input = {"policy_type": "standard", "region": "US"}
    with pytest.raises(ConfigError, match=r"deterministic_outputs\[1\] has the same input"):
        EnvironmentSet.build([config])


async def test_unknown_tool_lists_the_available_ones() -> None:
    envs = EnvironmentSet.build([policy_env()])
    result = await step(envs, "get_refund", {})
    assert result.error == "unknown tool 'get_refund'; available: get_refund_policy"


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ('{"policy_type": "standard"', "invalid arguments for tool 'get_refund_policy': arguments are not valid JSON"),
        ("[1, 2]", "arguments must be a JSON object, got list"),
        ({"region": "EU"}, "at /: 'policy_type' is a required property"),
        ({"policy_type": "standard", "days": 0}, "at /days: 0 is less than the minimum of 1"),
        ({"policy_type": 7, "color": "red"}, "Additional properties are not allowed ('color' was unexpected)"),
    ],
)
async def test_bad_arguments_become_precise_error_results(arguments: Any, error: str) -> None:
    envs = EnvironmentSet.build([policy_env()])
    result = await step(envs, "get_refund_policy", arguments)
    assert not result.ok and error in (result.error or "")
    assert result.output is None and result.patch == []


async def test_malformed_arguments_are_recorded_raw() -> None:
    envs = EnvironmentSet.build([policy_env()])
    result = await step(envs, "get_refund_policy", "{oops")
    assert result.arguments == "{oops"


async def test_all_violations_are_listed_in_one_message() -> None:
    envs = EnvironmentSet.build([policy_env()])
    result = await step(envs, "get_refund_policy", {"policy_type": 1, "region": 2, "days": "x"})
    assert result.error is not None
    for where in ("at /days", "at /policy_type", "at /region"):
        assert where in result.error

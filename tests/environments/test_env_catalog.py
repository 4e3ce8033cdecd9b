"""EnvironmentSet: one conversation's fresh instances, routing, filters, state overrides."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from envsim.config.models import EnvironmentConfig
from envsim.environments import EnvironmentSet, StepContext
from envsim.errors import ConfigError
from envsim.messages import ToolCall
from envsim.testing import ScriptedModel

DATA = Path(__file__).parent / "data"
COUNTER_SCHEMA = {"type": "object", "required": ["n"], "properties": {"n": {"type": "integer", "minimum": 0}}}


def configs() -> list[EnvironmentConfig]:
    raw: list[dict[str, Any]] = [
        {
            "id": "math",
            "type": "python",
            "tools": [{"id": "add", "handler": "plain_tools.py:add"}],
        },
        {
            "id": "counter",
            "type": "synthetic",
            "state_params": {"state_schema": COUNTER_SCHEMA, "initial_state": {"n": 0}},
            "tools": [{"id": "bump"}, {"id": "peek", "read_only": True}],
        },
        {
            "id": "table",
            "type": "deterministic",
            "tools": [{"id": "lookup", "deterministic_outputs": [{"input": {}, "output": "hit"}]}],
        },
    ]
    return [EnvironmentConfig.model_validate(item) for item in raw]


def build(**kwargs: Any) -> EnvironmentSet:
    return EnvironmentSet.build(configs(), model=kwargs.pop("model", ScriptedModel([])), base_dir=DATA, **kwargs)


async def test_routes_each_call_to_the_owning_environment() -> None:
    model = ScriptedModel(['{"output": 1, "patch": [{"op": "replace", "path": "/n", "value": 1}]}'])
    envs = build(model=model)
    assert [s.name for s in envs.tool_specs()] == ["add", "bump", "peek", "lookup"]
    assert envs.environment_of("bump") is envs.environments["counter"]
    assert envs.environment_of("nope") is None
    add = await envs.step(ToolCall.make("add", {"a": 1, "b": 1}))
    bump = await envs.step(ToolCall.make("bump", {}), StepContext(episode_id="e1"))
    lookup = await envs.step(ToolCall.make("lookup", {}))
    assert (add.environment, add.output) == ("math", 2)
    assert (bump.environment, bump.output, envs.states()) == ("counter", 1, {"counter": {"n": 1}})
    assert (lookup.environment, lookup.output) == ("table", "hit")
    assert envs.usage.requests == 1


async def test_unknown_tool_is_an_error_result_naming_every_tool() -> None:
    result = await build().step(ToolCall.make("mul", {"a": 1}))
    assert result.error == "unknown tool 'mul'; available: add, bump, lookup, peek"
    assert result.environment == "" and result.arguments == {"a": 1}


def test_only_restricts_the_environments_and_tool_specs_filter() -> None:
    envs = build(only=["table", "math"])
    assert list(envs.environments) == ["math", "table"]
    assert [s.name for s in envs.tool_specs(["lookup"])] == ["lookup"]
    with pytest.raises(ConfigError, match="unknown tool\\(s\\) 'bump'"):
        envs.tool_specs(["bump"])
    with pytest.raises(ConfigError, match="unknown environment\\(s\\) 'crm'; defined: math, counter, table"):
        build(only=["crm"])


def test_states_lists_only_stateful_environments_and_are_copies() -> None:
    envs = build()
    states = envs.states()
    assert states == {"counter": {"n": 0}}
    states["counter"]["n"] = 99
    assert envs.states() == {"counter": {"n": 0}}


def test_initial_state_overrides_full_or_as_patch() -> None:
    assert build(initial_states={"counter": {"n": 5}}).states() == {"counter": {"n": 5}}
    patched = build(initial_states={"counter": [{"op": "replace", "path": "/n", "value": 7}]})
    assert patched.states() == {"counter": {"n": 7}}
    assert build().states() == {"counter": {"n": 0}}  # the catalog itself is untouched


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"counter": {"n": -1}}, "initial state of environment 'counter' does not match its state_schema"),
        ({"counter": [{"op": "remove", "path": "/m"}]}, "initial-state patch for environment 'counter' does not apply"),
        ({"math": {"n": 1}}, "environment 'math', which has no state"),
        ({"crm": {}}, "unknown or unavailable environment\\(s\\) 'crm'"),
    ],
)
def test_bad_initial_state_overrides_are_config_errors(override: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build(initial_states=override)


def test_duplicate_tool_ids_across_environments_are_rejected() -> None:
    items = configs()
    items[2].tools[0].id = "add"
    with pytest.raises(ConfigError, match="tool 'add' is defined by both environment 'math' and 'table'"):
        EnvironmentSet.build(items, model=ScriptedModel([]), base_dir=DATA)
    assert EnvironmentSet.build(items, model=ScriptedModel([]), base_dir=DATA, only=["table", "counter"])

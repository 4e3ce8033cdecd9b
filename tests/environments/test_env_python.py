"""Python environments: handlers by import path or file, @tool registrations, derived schemas, state rule."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import BaseModel

from envsim.config.models import EnvironmentConfig
from envsim.environments import EnvironmentSet, tool_spec_from_function
from envsim.errors import ConfigError
from envsim.messages import ToolCall

DATA = Path(__file__).parent / "data"
STOCK_SCHEMA = {
    "type": "object",
    "required": ["stock", "log"],
    "properties": {
        "stock": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}},
        "log": {"type": "array", "items": {"type": "string"}},
    },
}
INITIAL = {"stock": {"apple": 3, "pear": 1}, "log": []}


def inventory(**extra: Any) -> EnvironmentConfig:
    return EnvironmentConfig.model_validate(
        {
            "id": "inventory",
            "type": "python",
            "module": "inventory_tools.py",
            "state_params": {"state_schema": STOCK_SCHEMA, "initial_state": INITIAL},
        }
        | extra
    )


def plain(tools: list[dict[str, Any]], **extra: Any) -> EnvironmentConfig:
    return EnvironmentConfig.model_validate({"id": "plain", "type": "python", "tools": tools} | extra)


async def call(envs: EnvironmentSet, name: str, args: Any) -> Any:
    return await envs.step(ToolCall.make(name, args, id="c1"))


# --------------------------------------------------------------------------- handlers and registrations


async def test_registered_tools_of_a_module_file_become_the_environment() -> None:
    envs = EnvironmentSet.build([inventory()], base_dir=DATA)
    specs = {s.name: s for s in envs.tool_specs()}
    assert list(specs) == ["get_stock", "remove_stock", "restock", "reset", "sneaky_peek"]
    assert specs["get_stock"].read_only and not specs["remove_stock"].read_only
    assert specs["get_stock"].description == "Current stock of one item."
    assert specs["get_stock"].parameters["properties"]["sku"]["description"] == "The item's stock-keeping unit."
    assert "state" not in specs["get_stock"].parameters["properties"]
    result = await call(envs, "get_stock", {"sku": "apple"})
    assert result.ok and result.output == {"sku": "apple", "qty": 3} and result.patch == []


async def test_handler_by_relative_file_and_by_dotted_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "shop_helpers.py").write_text(
        textwrap.dedent(
            """
            def greet(name: str) -> str:
                return "hello " + name
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    config = plain([{"id": "add", "handler": "plain_tools.py:add"}, {"id": "greet", "handler": "shop_helpers:greet"}])
    envs = EnvironmentSet.build([config], base_dir=DATA)
    assert (await call(envs, "add", {"a": 1})).output == 3  # b's default comes from the signature
    assert (await call(envs, "greet", {"name": "Ana"})).output == "hello Ana"
    sys.modules.pop("shop_helpers", None)


def test_loading_the_same_file_twice_reuses_the_module() -> None:
    config = plain([{"id": "add", "handler": "plain_tools.py:add"}])
    first = EnvironmentSet.build([config], base_dir=DATA).environments["plain"]
    second = EnvironmentSet.build([config], base_dir=DATA).environments["plain"]
    assert first.handlers["add"].fn is second.handlers["add"].fn  # type: ignore[attr-defined]
    assert first is not second


@pytest.mark.parametrize(
    ("handler", "message"),
    [
        ("plain_tools.py", "does not name a function"),
        ("missing_file.py:add", "tool module file 'missing_file.py' not found"),
        ("plain_tools.py:nothing", "has no attribute 'nothing'"),
        ("no_such_package_xyz.mod:f", "cannot import module 'no_such_package_xyz.mod'"),
    ],
)
def test_bad_handlers_are_config_errors(handler: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        EnvironmentSet.build([plain([{"id": "x", "handler": handler}])], base_dir=DATA)


def test_a_tool_without_handler_or_registration_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="tool 'ghost' of python environment 'plain' has no handler"):
        EnvironmentSet.build([plain([{"id": "ghost"}])], base_dir=DATA)


def test_state_argument_without_state_params_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="takes a `state` argument, but the environment has no state"):
        EnvironmentSet.build([plain([{"id": "w", "handler": "plain_tools.py:write_state"}])], base_dir=DATA)


async def test_explicit_config_fields_win_over_derived_ones() -> None:
    params = {"type": "object", "required": ["a"], "properties": {"a": {"type": "integer", "maximum": 10}}}
    config = plain([{"id": "sum", "handler": "plain_tools.py:add", "description": "Adds.", "parameters": params}])
    envs = EnvironmentSet.build([config], base_dir=DATA)
    spec = envs.tool_specs()[0]
    assert spec.name == "sum" and spec.description == "Adds." and spec.parameters == params
    assert "maximum of 10" in ((await call(envs, "sum", {"a": 11})).error or "")
    assert (await call(envs, "sum", {"a": 1})).output == 3


# --------------------------------------------------------------------------- derived schemas


class Address(BaseModel):
    city: str
    zip: str | None = None


def ship(
    order_id: str,
    speed: Literal["standard", "express"] = "standard",
    items: list[int] | None = None,
    meta: dict[str, str] | None = None,
    address: Address | None = None,
    state: dict | None = None,
) -> None:
    """Ship an order.

    Ships it fast.

    Args:
        order_id: Which order.
        speed: How fast.
    """


def test_tool_spec_from_function_derives_types_defaults_and_docs() -> None:
    spec = tool_spec_from_function(ship)
    props = spec.parameters["properties"]
    assert spec.name == "ship" and spec.description == "Ship an order.\n\nShips it fast."
    assert spec.parameters["required"] == ["order_id"]
    assert spec.parameters["additionalProperties"] is False
    assert props["order_id"] == {"type": "string", "description": "Which order."}
    assert props["speed"]["enum"] == ["standard", "express"] and props["speed"]["default"] == "standard"
    assert props["speed"]["description"] == "How fast."
    assert {"type": "array", "items": {"type": "integer"}} in props["items"]["anyOf"]
    assert {"type": "object", "additionalProperties": {"type": "string"}} in props["meta"]["anyOf"]
    assert "Address" in spec.parameters["$defs"] and "state" not in props


def test_derived_schema_validates_real_arguments() -> None:
    from envsim.environments.schema import schema_errors

    schema = tool_spec_from_function(ship).parameters
    assert schema_errors(schema, {"order_id": "o1", "address": {"city": "Lyon"}, "items": [1]}) == []
    assert schema_errors(schema, {"order_id": "o1", "address": {}}) == ["at /address: 'city' is a required property"]
    assert schema_errors(schema, {"order_id": "o1", "speed": "warp"})


def test_positional_only_parameters_are_rejected() -> None:
    def f(a: int, /) -> int:
        return a

    with pytest.raises(ConfigError, match="positional-only"):
        tool_spec_from_function(f)


# --------------------------------------------------------------------------- the state rule


async def test_mutating_the_state_argument_records_a_patch() -> None:
    envs = EnvironmentSet.build([inventory()], base_dir=DATA)
    result = await call(envs, "remove_stock", {"sku": "apple", "qty": 2})
    assert result.ok and result.output == {"sku": "apple", "qty": 1}
    assert result.patch == [{"op": "replace", "path": "/stock/apple", "value": 1}]
    assert envs.states()["inventory"]["stock"]["apple"] == 1


async def test_async_tools_and_pydantic_arguments() -> None:
    envs = EnvironmentSet.build([inventory()], base_dir=DATA)
    result = await call(envs, "restock", {"order": {"sku": "kiwi", "qty": 4}})
    assert result.ok and result.output == {"sku": "kiwi", "qty": 4}
    assert envs.states()["inventory"]["stock"]["kiwi"] == 4


async def test_tool_result_replaces_the_state() -> None:
    envs = EnvironmentSet.build([inventory()], base_dir=DATA)
    result = await call(envs, "reset", {})
    assert result.output == {"reset": "empty"} and envs.states()["inventory"] == {"stock": {}, "log": []}
    assert result.patch


async def test_invalid_new_state_is_rejected_and_nothing_changes() -> None:
    envs = EnvironmentSet.build([inventory()], base_dir=DATA)
    hash_before = envs.environments["inventory"].state_hash  # type: ignore[attr-defined]
    result = await call(envs, "remove_stock", {"sku": "pear", "qty": 5})
    assert not result.ok and "at /stock/pear: -4 is less than the minimum of 0" in (result.error or "")
    assert result.patch == [] and result.state_hash == hash_before and envs.states()["inventory"] == INITIAL


async def test_read_only_tool_that_writes_is_rejected() -> None:
    envs = EnvironmentSet.build([inventory()], base_dir=DATA)
    result = await call(envs, "sneaky_peek", {})
    assert not result.ok and "read-only" in (result.error or "") and envs.states()["inventory"] == INITIAL


async def test_exceptions_become_error_results() -> None:
    envs = EnvironmentSet.build([inventory()], base_dir=DATA)
    missing = await call(envs, "get_stock", {"sku": "plum"})
    assert missing.error == "KeyError: 'unknown sku plum'"
    config = plain([{"id": "explode", "handler": "plain_tools.py:explode"}])
    boom = await call(EnvironmentSet.build([config], base_dir=DATA), "explode", {"reason": "no stock"})
    assert boom.error == "ValueError: cannot do that: no stock"


async def test_non_json_output_is_an_error_result() -> None:
    config = plain([{"id": "not_json", "handler": "plain_tools.py:not_json"}])
    result = await call(EnvironmentSet.build([config], base_dir=DATA), "not_json", {})
    assert "the tool's output is not JSON-serializable" in (result.error or "")


async def test_output_schema_is_checked() -> None:
    config = plain([{"id": "add", "handler": "plain_tools.py:add", "output_schema": {"type": "string"}}])
    result = await call(EnvironmentSet.build([config], base_dir=DATA), "add", {"a": 1})
    assert result.error == "the output does not match the tool's output_schema: at /: 3 is not of type 'string'"


async def test_invalid_arguments_never_run_the_tool() -> None:
    envs = EnvironmentSet.build([inventory()], base_dir=DATA)
    result = await call(envs, "remove_stock", {"sku": "apple", "qty": "two"})
    assert "at /qty: 'two' is not of type 'integer'" in (result.error or "")
    assert envs.states()["inventory"] == INITIAL


def test_a_tool_file_can_import_a_helper_module_next_to_it(tmp_path: Path) -> None:
    from envsim.environments.handlers import load_callable

    (tmp_path / "pricing_helpers_7f3a.py").write_text("def with_tax(x):\n    return round(x * 1.2, 2)\n")
    (tmp_path / "shop_tools.py").write_text(
        "from pricing_helpers_7f3a import with_tax\n\ndef gross(net: float) -> float:\n    return with_tax(net)\n"
    )
    assert load_callable("shop_tools.py:gross", tmp_path)(net=10.0) == 12.0

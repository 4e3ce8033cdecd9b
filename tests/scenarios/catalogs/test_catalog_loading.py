"""Catalog loading: errors name the file, the path inside it and a fix; initial states as state or patch."""

from __future__ import annotations

from pathlib import Path

import pytest

from envsim.errors import ConfigError, ConfigErrors
from envsim.scenarios.catalog import load_catalog, load_catalogs

from .conftest import RETAIL_DIR
from .helpers import cancel_scenario, write_catalog

RETAIL = RETAIL_DIR / "retail.yaml"


def _errors(path: Path) -> list[ConfigError]:
    with pytest.raises((ConfigError, ConfigErrors)) as info:
        load_catalog(path)
    error = info.value
    return error.errors if isinstance(error, ConfigErrors) else [error]


def test_unknown_key_names_file_and_location(tmp_path: Path) -> None:
    scenario = cancel_scenario()
    scenario["expect"] = {"stat": []}
    errors = _errors(write_catalog(tmp_path / "c.yaml", RETAIL, [scenario]))
    assert [(e.location, e.file) for e in errors] == [("scenarios[0].expect.stat", str(tmp_path / "c.yaml"))]
    assert "unknown key 'stat'" in errors[0].message
    assert "state" in (errors[0].hint or "")  # did you mean


def test_unknown_tool_in_script(tmp_path: Path) -> None:
    scenario = cancel_scenario()
    scenario["script"][1]["assistant"]["rounds"][1][0]["name"] = "cancel_order"
    errors = _errors(write_catalog(tmp_path / "c.yaml", RETAIL, [scenario]))
    assert errors[0].location == "scenarios[0].script[1].assistant.rounds[1][0].name"
    assert "unknown tool 'cancel_order'" in errors[0].message
    assert "cancel_pending_order" in (errors[0].hint or "")


def test_arguments_must_be_an_object(tmp_path: Path) -> None:
    scenario = cancel_scenario()
    scenario["script"][1]["assistant"]["rounds"][0][0]["arguments"] = ["maya.okafor@example.com"]
    errors = _errors(write_catalog(tmp_path / "c.yaml", RETAIL, [scenario]))
    assert errors[0].location == "scenarios[0].script[1].assistant.rounds[0][0].arguments"


def test_output_only_for_synthetic_tools(tmp_path: Path) -> None:
    scenario = cancel_scenario()
    scenario["script"][1]["assistant"]["rounds"][0][0]["output"] = "maya"
    errors = _errors(write_catalog(tmp_path / "c.yaml", RETAIL, [scenario]))
    assert "only for synthetic tools" in errors[0].message


def test_duplicate_scenario_ids(tmp_path: Path) -> None:
    errors = _errors(write_catalog(tmp_path / "c.yaml", RETAIL, [cancel_scenario("a"), cancel_scenario("a")]))
    assert errors[0].location == "scenarios[1].id"


def test_duplicate_ids_across_catalogs_in_a_directory(tmp_path: Path) -> None:
    write_catalog(tmp_path / "a.yaml", RETAIL, [cancel_scenario("same")])
    write_catalog(tmp_path / "b.yaml", RETAIL, [cancel_scenario("same")])
    with pytest.raises(ConfigErrors) as info:
        load_catalogs(tmp_path)
    assert "also used in" in info.value.errors[0].message


def test_state_assertion_needs_exactly_one_check(tmp_path: Path) -> None:
    scenario = cancel_scenario(state=[{"path": "/orders/#W1001/status", "equals": "x", "absent": True}])
    errors = _errors(write_catalog(tmp_path / "c.yaml", RETAIL, [scenario]))
    assert errors[0].location == "scenarios[0].expect.state[0]"


def test_pointer_must_start_with_slash(tmp_path: Path) -> None:
    scenario = cancel_scenario(state=[{"path": "orders/#W1001/status", "equals": "x"}])
    errors = _errors(write_catalog(tmp_path / "c.yaml", RETAIL, [scenario]))
    assert "JSON Pointer" in errors[0].message


def test_initial_state_patch_that_does_not_apply(tmp_path: Path) -> None:
    scenario = cancel_scenario()
    patch = [{"op": "replace", "path": "/orders/#W9999/status", "value": "x"}]
    scenario["initial_state"] = {"retail": {"patch": patch}}
    errors = _errors(write_catalog(tmp_path / "c.yaml", RETAIL, [scenario]))
    assert errors[0].location == "scenarios[0].initial_state.retail.patch"
    assert "does not apply" in errors[0].message


def test_initial_state_patch_must_keep_the_state_valid(tmp_path: Path) -> None:
    scenario = cancel_scenario()
    patch = [{"op": "replace", "path": "/orders/#W1001/status", "value": "lost"}]
    scenario["initial_state"] = {"retail": {"patch": patch}}
    errors = _errors(write_catalog(tmp_path / "c.yaml", RETAIL, [scenario]))
    assert errors[0].location == "scenarios[0].initial_state.retail"
    assert "state_schema" in errors[0].message


def test_initial_state_for_unknown_environment(tmp_path: Path) -> None:
    scenario = cancel_scenario()
    scenario["initial_state"] = {"shop": {"state": {}}}
    errors = _errors(write_catalog(tmp_path / "c.yaml", RETAIL, [scenario]))
    assert "unknown environment 'shop'" in errors[0].message


def test_missing_environment_catalog(tmp_path: Path) -> None:
    errors = _errors(write_catalog(tmp_path / "c.yaml", tmp_path / "nope.yaml", [cancel_scenario()]))
    assert errors[0].location == "environment_config_path"
    assert "not found" in errors[0].message


def test_state_and_patch_overrides_resolve(tmp_path: Path) -> None:
    full = cancel_scenario("full")
    loaded = load_catalog(write_catalog(tmp_path / "c.yaml", RETAIL, [full]))
    catalog_state = loaded.resolved_initial_state(full_scenario := loaded.scenarios[0], "retail")
    assert catalog_state is not None and catalog_state["orders"]["#W1001"]["status"] == "pending"

    small = {"products": {}, "users": {}, "orders": {}}
    full["initial_state"] = {"retail": {"state": small}}
    patched = cancel_scenario("patched")
    patched["initial_state"] = {
        "retail": {"patch": [{"op": "replace", "path": "/orders/#W1001/status", "value": "delivered"}]}
    }
    loaded = load_catalog(write_catalog(tmp_path / "d.yaml", RETAIL, [full, patched]))
    assert loaded.resolved_initial_state(loaded.scenarios[0], "retail") == small
    state = loaded.resolved_initial_state(loaded.scenarios[1], "retail")
    assert state is not None and state["orders"]["#W1001"]["status"] == "delivered"
    assert full_scenario.id == "full"

"""The tau2_retail catalog: where it finds tau2's database (never copied into the project), what it
says when the database is nowhere, and the tool interface it offers (tau2's names and arguments)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from tau2_retail_data import CATALOG_DIR, DATA_ENV

from envsim.config.loader import load_environment_catalog
from envsim.environments.catalog import EnvironmentSet
from envsim.errors import ConfigErrors

TAU2_TOOLS = {
    "calculate",
    "cancel_pending_order",
    "exchange_delivered_order_items",
    "find_user_id_by_email",
    "find_user_id_by_name_zip",
    "get_item_details",
    "get_order_details",
    "get_product_details",
    "get_user_details",
    "list_all_product_types",
    "modify_pending_order_address",
    "modify_pending_order_items",
    "modify_pending_order_payment",
    "modify_user_address",
    "return_delivered_order_items",
    "transfer_to_human_agents",
}
TINY_DB = {"products": {}, "users": {}, "orders": {}}


def _project(root: Path) -> Path:
    """A copy of the catalog at <root>/project/environments/tau2_retail/; returns its YAML file."""
    target = root / "project" / "environments" / "tau2_retail"
    shutil.copytree(CATALOG_DIR, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target / "tau2_retail.yaml"


def _write_db(directory: Path, marker: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    db = TINY_DB | {"products": {marker: {"name": marker, "product_id": marker, "variants": {}}}}
    (directory / "db.json").write_text(json.dumps(db), encoding="utf-8")


def _products(catalog_file: Path) -> list[str]:
    params = load_environment_catalog(catalog_file).environments[0].state_params
    assert params is not None
    return list(params.initial_state["products"])


def test_missing_database_names_every_place_it_looked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DATA_ENV, raising=False)
    catalog_file = _project(tmp_path)
    with pytest.raises(ConfigErrors) as caught:
        load_environment_catalog(catalog_file)
    message = str(caught.value)
    assert "initial state file not found" in message
    assert f"${{{DATA_ENV}}}/db.json ({DATA_ENV} not set)" in message
    assert f"{tmp_path / 'shared' / 'datasets' / 'tau2-retail' / 'db.json'}: not found" in message
    assert f"set {DATA_ENV} to the directory that holds it" in message
    assert "tau2_retail.yaml:" in message  # where: the file and line of initial_state_path


def test_database_beside_the_project_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DATA_ENV, raising=False)
    _write_db(tmp_path / "shared" / "datasets" / "tau2-retail", "beside")
    assert _products(_project(tmp_path)) == ["beside"]


def test_the_environment_variable_comes_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write_db(tmp_path / "shared" / "datasets" / "tau2-retail", "beside")
    _write_db(tmp_path / "elsewhere", "from_env")
    catalog_file = _project(tmp_path)
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "elsewhere"))
    assert _products(catalog_file) == ["from_env"]
    # A variable naming a place without the file falls through to the next candidate.
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "nowhere"))
    assert _products(catalog_file) == ["beside"]


def test_tools_are_tau2s_with_tau2s_argument_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write_db(tmp_path, "p")
    monkeypatch.setenv(DATA_ENV, str(tmp_path))
    envs = EnvironmentSet.build(
        load_environment_catalog(CATALOG_DIR / "tau2_retail.yaml").environments, base_dir=CATALOG_DIR
    )
    specs = {spec.name: spec for spec in envs.tool_specs()}
    assert set(specs) == TAU2_TOOLS
    for name in ("modify_pending_order_address", "modify_user_address"):
        # tau2 calls the address's state `state`; the environment state reaches the tool as `db`.
        assert {"state", "zip", "country"} <= set(specs[name].parameters["properties"])
        assert "db" not in specs[name].parameters["properties"]
    read_only = {name for name, spec in specs.items() if spec.read_only}
    assert read_only == TAU2_TOOLS - {n for n in TAU2_TOOLS if n.startswith(("cancel", "exchange", "modify", "return"))}
    assert specs["modify_pending_order_items"].parameters["properties"]["item_ids"]["type"] == "array"


def test_one_path_may_name_a_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    catalog_file = tmp_path / "catalog.yaml"
    catalog_file.write_text(
        "environments:\n"
        "  - id: notes\n"
        "    type: synthetic\n"
        "    state_params: {initial_state_path: '${NOTES_DIR}/state.json'}\n"
        "    tools: [{id: read_notes, read_only: true}]\n",
        encoding="utf-8",
    )
    monkeypatch.delenv("NOTES_DIR", raising=False)
    with pytest.raises(ConfigErrors, match=r"\$\{NOTES_DIR\}/state.json \(NOTES_DIR not set\)"):
        load_environment_catalog(catalog_file)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "state.json").write_text('{"notes": ["a"]}', encoding="utf-8")
    monkeypatch.setenv("NOTES_DIR", str(tmp_path / "data"))
    params = load_environment_catalog(catalog_file).environments[0].state_params
    assert params is not None and params.initial_state == {"notes": ["a"]}

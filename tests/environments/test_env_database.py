"""Database environments (SQLite): SQL and executor tools, a copy per conversation, changes as JSON
Patches of the table/row view, read-only tools enforced, SQL errors as tool errors, rollback on error."""

from __future__ import annotations

import sqlite3
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from envsim.config.models import EnvironmentConfig
from envsim.environments import EnvironmentSet
from envsim.environments.state import apply_patch
from envsim.errors import ConfigError
from envsim.messages import ToolCall

SCHEMA = "CREATE TABLE patients (id INTEGER PRIMARY KEY, name TEXT NOT NULL, meds TEXT);"
SEED = "INSERT INTO patients (id, name, meds) VALUES (1, 'Bob Martin', 'aspirin'), (2, 'Alice Chen', NULL);"
PAT_ID = {"type": "object", "properties": {"pat_id": {"type": "integer"}}, "required": ["pat_id"]}
UPDATE = {
    "type": "object",
    "properties": {"pat_id": {"type": "integer"}, "medication": {"type": "string"}},
    "required": ["pat_id", "medication"],
}


def ehr(*tools: dict[str, Any], **extra: Any) -> EnvironmentConfig:
    base = {"id": "ehr", "type": "database", "schema_sql": SCHEMA, "seed_sql": SEED, "tools": list(tools)}
    return EnvironmentConfig.model_validate(base | extra)


LOOKUP = {
    "id": "lookup",
    "read_only": True,
    "parameters": PAT_ID,
    "sql": "SELECT name, meds FROM patients WHERE id = :pat_id",
}
SET_MEDS = {
    "id": "set_meds",
    "parameters": UPDATE,
    "sql": "UPDATE patients SET meds = :medication WHERE id = :pat_id",
}


async def step(envs: EnvironmentSet, name: str, args: dict[str, Any]) -> Any:
    return await envs.step(ToolCall.make(name, args, id="c1"))


def build(config: EnvironmentConfig, base_dir: Path | None = None) -> EnvironmentSet:
    return EnvironmentSet.build([config], base_dir=base_dir)


async def test_sql_tools_read_and_write_and_changes_are_patches_of_the_table_view() -> None:
    envs = build(ehr(LOOKUP, SET_MEDS))
    before = envs.states()["ehr"]
    assert before["tables"]["patients"]["1"] == {"id": 1, "name": "Bob Martin", "meds": "aspirin"}

    read = await step(envs, "lookup", {"pat_id": 1})
    assert read.ok and read.output == [{"name": "Bob Martin", "meds": "aspirin"}] and read.patch == []

    write = await step(envs, "set_meds", {"pat_id": 2, "medication": "ibuprofen"})
    assert write.ok and write.output == {"rowcount": 1}
    assert write.patch == [{"op": "replace", "path": "/tables/patients/2/meds", "value": "ibuprofen"}]
    after = envs.states()["ehr"]
    assert apply_patch(before, write.patch) == after  # initial state + patches = final state
    assert (await step(envs, "lookup", {"pat_id": 2})).output == [{"name": "Alice Chen", "meds": "ibuprofen"}]


async def test_every_conversation_gets_its_own_copy() -> None:
    config = ehr(LOOKUP, SET_MEDS)
    first, second = build(config), build(config)
    await step(first, "set_meds", {"pat_id": 1, "medication": "none"})
    assert (await step(second, "lookup", {"pat_id": 1})).output == [{"name": "Bob Martin", "meds": "aspirin"}]
    assert first.states() != second.states()


async def test_read_only_tools_cannot_write() -> None:
    sneaky = {"id": "sneaky", "read_only": True, "parameters": PAT_ID, "sql": "DELETE FROM patients WHERE id = :pat_id"}
    envs = build(ehr(sneaky))
    before = envs.states()
    result = await step(envs, "sneaky", {"pat_id": 1})
    assert result.error == "tool 'sneaky' is read-only and must not change the database"
    assert result.error_kind == "tool" and result.patch == []
    assert envs.states() == before


async def test_sql_errors_are_tool_errors_and_change_nothing() -> None:
    insert = {
        "id": "add",
        "parameters": {"type": "object", "properties": {"name": {"type": "string"}}},
        "sql": "INSERT INTO patients (id, name) VALUES (1, :name)",  # id 1 exists: a constraint failure
    }
    envs = build(ehr(insert))
    result = await step(envs, "add", {"name": "Dup"})
    assert result.error is not None and result.error.startswith("SQL error: UNIQUE constraint failed")
    assert result.error_kind == "tool" and result.patch == []


async def test_tool_sql_cannot_end_the_transaction() -> None:
    commit = {"id": "commit", "sql": "COMMIT"}
    envs = build(ehr(commit))
    result = await step(envs, "commit", {})
    assert result.error is not None and "not authorized" in result.error


def write_executors(directory: Path) -> None:
    (directory / "db_tools.py").write_text(
        textwrap.dedent(
            """
            from oumi.core.registry import register_tool_executor
            from oumi.core.types.tool_call import ToolResult

            @register_tool_executor("db.rename_then_fail")
            def rename_then_fail(arguments, context):
                context.execute("UPDATE patients SET name = 'X' WHERE id = 1")
                raise RuntimeError("backend down")

            def add_patient(arguments, context):
                context.execute("INSERT INTO patients (id, name) VALUES (?, ?)", (arguments["id"], arguments["name"]))
                return ToolResult(output={"added": arguments["id"]})
            """
        ),
        encoding="utf-8",
    )
    (directory / "extra_deps.txt").write_text("# executor modules\ndb_tools.py\n", encoding="utf-8")


async def test_executors_get_the_connection_and_a_failure_rolls_their_writes_back(tmp_path: Path) -> None:
    write_executors(tmp_path)
    add = {
        "id": "add_patient",
        "executor": "db_tools.add_patient",
        "parameters": {"type": "object", "properties": {"id": {"type": "integer"}, "name": {"type": "string"}}},
    }
    fail = {"id": "rename", "executor": "db.rename_then_fail"}  # a registered name, found via extra_deps.txt
    envs = build(ehr(add, fail), base_dir=tmp_path)
    added = await step(envs, "add_patient", {"id": 3, "name": "Carol Diaz"})
    assert added.ok and added.output == {"added": 3}
    assert added.patch == [
        {"op": "add", "path": "/tables/patients/3", "value": {"id": 3, "name": "Carol Diaz", "meds": None}}
    ]
    failed = await step(envs, "rename", {})
    assert failed.error == "RuntimeError: backend down" and failed.patch == []
    assert envs.states()["ehr"]["tables"]["patients"]["1"]["name"] == "Bob Martin"


async def test_output_schema_violations_roll_back_the_write() -> None:
    strict = dict(SET_MEDS, output_schema={"type": "object", "required": ["ok"]})
    envs = build(ehr(strict))
    result = await step(envs, "set_meds", {"pat_id": 1, "medication": "x"})
    assert result.error is not None and "output_schema" in result.error
    assert envs.states()["ehr"]["tables"]["patients"]["1"]["meds"] == "aspirin"


async def test_db_path_is_read_and_never_written(tmp_path: Path) -> None:
    path = tmp_path / "clinic.sqlite"
    with sqlite3.connect(path) as connection:
        connection.executescript(SCHEMA + SEED)
    connection.close()
    config = EnvironmentConfig.model_validate(
        {"id": "ehr", "type": "database", "db_path": "clinic.sqlite", "tools": [SET_MEDS]}
    )
    envs = build(config, base_dir=tmp_path)
    assert (await step(envs, "set_meds", {"pat_id": 1, "medication": "new"})).ok
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT meds FROM patients WHERE id = 1").fetchone() == ("aspirin",)
    connection.close()


def test_bad_schema_sql_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="schema_sql fails"):
        build(ehr(LOOKUP, schema_sql="CREATE TABLE (oops"))


def test_a_copy_costs_the_database_size_not_a_rebuild() -> None:
    # 20k rows: building runs the SQL once; each conversation's copy is a page-level backup.
    seed = "WITH RECURSIVE n(i) AS (SELECT 3 UNION ALL SELECT i + 1 FROM n WHERE i < 20000) "
    seed += "INSERT INTO patients (id, name) SELECT i, 'p' || i FROM n;"
    config = ehr(LOOKUP, seed_sql=SEED + seed)
    build(config)  # template built (and cached) here
    started = time.perf_counter()
    for _ in range(20):
        build(config)
    per_copy = (time.perf_counter() - started) / 20
    assert per_copy < 0.25  # generous: ~2 ms measured (1.3 ms of it the backup) on a loaded 2-core machine


async def test_an_initial_state_override_is_loaded_into_the_copy() -> None:
    view = {"tables": {"patients": {"7": {"id": 7, "name": "Grace Park", "meds": None}}}}
    envs = EnvironmentSet.build([ehr(LOOKUP, SET_MEDS)], initial_states={"ehr": view})
    assert envs.states()["ehr"] == view
    assert (await step(envs, "lookup", {"pat_id": 1})).output == []
    write = await step(envs, "set_meds", {"pat_id": 7, "medication": "x"})
    assert write.patch == [{"op": "replace", "path": "/tables/patients/7/meds", "value": "x"}]


def test_an_override_must_be_a_table_view() -> None:
    with pytest.raises(ConfigError, match="must be a table view"):
        EnvironmentSet.build([ehr(LOOKUP)], initial_states={"ehr": [{"op": "remove", "path": "/tables"}]})
    with pytest.raises(ConfigError, match="names table\\(s\\) nurses"):
        EnvironmentSet.build([ehr(LOOKUP)], initial_states={"ehr": {"tables": {"nurses": {}}}})


async def test_a_database_run_replays_without_drift(tmp_path: Path) -> None:
    from envsim.api import run_config
    from envsim.scenarios.reexecute import reexecute_run

    example = Path(__file__).resolve().parents[2] / "examples" / "database.yaml"
    summary = await run_config(example, out_dir=tmp_path / "run", overrides=[f"output_path={tmp_path / 'd.jsonl'}"])
    assert summary.ok
    drift = await reexecute_run(tmp_path / "run", environments_path=str(example))
    assert drift.steps > 0 and not drift.changed, drift.differences

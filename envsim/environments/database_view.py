"""The JSON view of a SQLite database that traces, patches and expectations see.

    {"tables": {"patients": {"1": {"id": 1, "name": "Bob Martin", "meds": "aspirin"}, ...}, ...}}

Rows are keyed by their primary key (several key columns joined with ","; the rowid when a table has
no primary key), so a change is a JSON Patch such as `replace /tables/patients/1/meds`. BLOBs appear as
`{"$blob": "<hex>"}`: the view is plain JSON.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from envsim.config.models import EnvironmentConfig
from envsim.environments.json_diff import escape, json_diff
from envsim.errors import ConfigError

TableRows = dict[str, dict[str, Any]]


def table_names(connection: sqlite3.Connection) -> list[str]:
    rows = connection.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
    ).fetchall()
    return [row[0] for row in rows]


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _key_columns(connection: sqlite3.Connection, table: str) -> list[str]:
    info = connection.execute(f"PRAGMA table_info({_quote(table)})").fetchall()
    keyed = sorted((row[5], row[1]) for row in info if row[5] > 0)
    return [name for _, name in keyed]


def _json_cell(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"$blob": value.hex()}
    return value


def table_rows(connection: sqlite3.Connection, table: str) -> TableRows:
    """Every row of `table`, keyed by its primary key (or rowid)."""
    keys = _key_columns(connection, table)
    select = "*" if keys else "rowid AS __rowid__, *"
    cursor = connection.execute(f"SELECT {select} FROM {_quote(table)}")
    columns = [d[0] for d in cursor.description]
    rows: TableRows = {}
    for values in cursor:
        row = {column: _json_cell(value) for column, value in zip(columns, values, strict=True)}
        key = ",".join(str(row[k]) for k in keys) if keys else str(row.pop("__rowid__"))
        rows[key] = row
    return rows


def database_view(connection: sqlite3.Connection) -> dict[str, Any]:
    return {"tables": {table: table_rows(connection, table) for table in table_names(connection)}}


def database_override(config: EnvironmentConfig, override: Any) -> dict[str, Any] | None:
    """An initial-state override of a database environment (a scenario's, or a recorded one on replay):
    a whole table view, loaded into the conversation's copy."""
    if override is None:
        return None
    if not isinstance(override, dict) or not isinstance(override.get("tables"), dict):
        raise ConfigError(
            f"the initial state of database environment {config.id!r} must be a table view "
            '{"tables": {table: {key: row}}}',
            hint="give the whole view (a JSON Patch over it is not supported for database environments)",
        )
    return override


def load_view(connection: sqlite3.Connection, view: dict[str, Any]) -> None:
    """Replace every table's rows with those of `view` (tables it does not name are emptied)."""
    names = table_names(connection)
    unknown = sorted(set(view["tables"]) - set(names))
    if unknown:
        raise ConfigError(
            f"the initial state names table(s) {', '.join(unknown)}, which the database does not have",
            hint=f"its tables: {', '.join(names) or '(none)'}",
        )
    connection.execute("PRAGMA foreign_keys = OFF")  # rows arrive table by table
    try:
        for table in names:
            connection.execute(f"DELETE FROM {_quote(table)}")
            keyed = bool(_key_columns(connection, table))
            for key, row in view["tables"].get(table, {}).items():
                values = {column: _sql_cell(value) for column, value in row.items()}
                if not keyed:
                    values = {"rowid": int(key), **values}
                columns = ", ".join(_quote(c) for c in values)
                marks = ", ".join("?" for _ in values)
                connection.execute(f"INSERT INTO {_quote(table)} ({columns}) VALUES ({marks})", list(values.values()))
    except sqlite3.Error as exc:
        raise ConfigError(f"the initial state does not fit the database: {exc}") from exc
    finally:
        connection.execute("PRAGMA foreign_keys = ON")


def _sql_cell(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"$blob"}:
        return bytes.fromhex(value["$blob"])
    return value


def refresh_tables(
    connection: sqlite3.Connection, view: dict[str, Any], touched: set[str]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The view after writes to the `touched` tables, and the JSON Patch from `view` to it.

    Only touched tables are re-read, so a step costs what it changed, not the whole database (a schema
    change re-reads every table)."""
    tables: dict[str, TableRows] = dict(view["tables"])
    names = set(table_names(connection))
    if "sqlite_master" in touched or "sqlite_schema" in touched:
        touched = set(tables) | names
    patch: list[dict[str, Any]] = []
    for table in sorted(touched):
        prefix = f"/tables/{escape(table)}"
        if table not in names:
            if table in tables:
                del tables[table]
                patch.append({"op": "remove", "path": prefix})
            continue
        after = table_rows(connection, table)
        if table not in tables:
            patch.append({"op": "add", "path": prefix, "value": after})
        else:
            patch.extend(json_diff(tables[table], after, prefix))
        tables[table] = after
    return {**view, "tables": tables}, patch

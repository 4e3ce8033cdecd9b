"""The JSON view of a SQLite database that traces, patches and expectations see.

    {"tables": {"patients": {"1": {"id": 1, "name": "Bob Martin", "meds": "aspirin"}, ...}, ...}}

Rows are keyed by their primary key (several key columns joined with ","; the rowid when a table has
no primary key), so a change is a JSON Patch such as `replace /tables/patients/1/meds`. BLOBs appear as
`{"$blob": "<hex>"}`: the view is plain JSON.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from envsim.environments.json_diff import escape, json_diff

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

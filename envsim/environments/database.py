"""Database environments: tools over a SQLite database (stdlib `sqlite3`), oumi's `database` kind.

    - id: ehr
      type: database                      # oumi: env_type: database, env_kwargs: {schema_sql, seed_sql}
      schema_sql: CREATE TABLE patients (id INTEGER PRIMARY KEY, name TEXT, meds TEXT);
      seed_sql: INSERT INTO patients VALUES (1, 'Bob Martin', 'aspirin');
      tools:
        - {id: lookup, read_only: true, sql: "SELECT name, meds FROM patients WHERE id = :pat_id", ...}
        - {id: update_meds, executor: executors.update_meds, ...}   # fn(arguments=..., context=conn)

Each conversation gets its own in-memory copy of a template database built once per definition
(`sqlite3` backup API: O(database size), no SQL re-run). Every tool call runs in a savepoint: an error
(SQL or the executor's) rolls it back, so an error never changes the database. The state the rest of
envsim sees is the table/row view of `database_view.py`; each write is recorded as a JSON Patch of it.
Read-only tools are enforced by an authorizer that denies every write; tool code can never end the
transaction, attach files or change pragmas.
"""

from __future__ import annotations

import copy
import inspect
import os
import re
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from envsim.canonical import stable_hash
from envsim.config.models import EnvironmentConfig
from envsim.environments.base import StepContext
from envsim.environments.call_conventions import read_oumi_result
from envsim.environments.database_view import database_view, load_view, refresh_tables
from envsim.environments.executors import Executor, resolve_executor
from envsim.environments.state import state_hash, to_json_value
from envsim.environments.state_origin import StateOrigin
from envsim.environments.state_tree import SharedState
from envsim.environments.tool_environment import Outcome, ToolEnvironment
from envsim.errors import ConfigError
from envsim.messages import ToolSpec

_WRITES = {
    sqlite3.SQLITE_INSERT,
    sqlite3.SQLITE_UPDATE,
    sqlite3.SQLITE_DELETE,
    sqlite3.SQLITE_ALTER_TABLE,
    sqlite3.SQLITE_CREATE_INDEX,
    sqlite3.SQLITE_CREATE_TABLE,
    sqlite3.SQLITE_CREATE_TEMP_INDEX,
    sqlite3.SQLITE_CREATE_TEMP_TABLE,
    sqlite3.SQLITE_CREATE_TEMP_TRIGGER,
    sqlite3.SQLITE_CREATE_TEMP_VIEW,
    sqlite3.SQLITE_CREATE_TRIGGER,
    sqlite3.SQLITE_CREATE_VIEW,
    sqlite3.SQLITE_DROP_INDEX,
    sqlite3.SQLITE_DROP_TABLE,
    sqlite3.SQLITE_DROP_TEMP_INDEX,
    sqlite3.SQLITE_DROP_TEMP_TABLE,
    sqlite3.SQLITE_DROP_TEMP_TRIGGER,
    sqlite3.SQLITE_DROP_TEMP_VIEW,
    sqlite3.SQLITE_DROP_TRIGGER,
    sqlite3.SQLITE_DROP_VIEW,
}
_TABLE_WRITES = {sqlite3.SQLITE_INSERT, sqlite3.SQLITE_UPDATE, sqlite3.SQLITE_DELETE}
_NEVER = {sqlite3.SQLITE_TRANSACTION, sqlite3.SQLITE_SAVEPOINT, sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH}
_NAMED_PARAMETER = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


class DatabaseTemplate:
    """The database as the definition describes it, built once; `copy()` gives a conversation its own."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection
        self.view = database_view(connection)  # shared by every copy; never mutated (see refresh_tables)
        self.view_hash = state_hash(self.view)
        # What traces refer to: the view as every conversation's shared initial state (no copy, no rehash).
        self.shared = SharedState(value=self.view, hash=self.view_hash)

    def copy(self) -> sqlite3.Connection:
        target = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        self._connection.backup(target)
        target.execute("PRAGMA foreign_keys = ON")
        return target


_TEMPLATES: dict[str, DatabaseTemplate] = {}


def database_template(config: EnvironmentConfig, base_dir: Path | None) -> DatabaseTemplate:
    """The (cached) template of a database environment; ConfigError when its SQL or file is bad."""
    path = _db_file(config, base_dir)
    # Per process: a SQLite connection must not be used across fork (worker processes build their own).
    key = stable_hash(
        [
            "database",
            os.getpid(),
            config.schema_sql,
            config.seed_sql,
            str(path),
            path.stat().st_mtime_ns if path else None,
        ]
    )
    template = _TEMPLATES.get(key)
    if template is None:
        template = DatabaseTemplate(_build(config, path))
        _TEMPLATES[key] = template
    return template


def _db_file(config: EnvironmentConfig, base_dir: Path | None) -> Path | None:
    if config.db_path is None:
        return None
    path = ((base_dir or Path.cwd()) / Path(config.db_path).expanduser()).resolve()
    if not path.is_file():
        raise ConfigError(
            f"database environment {config.id!r}: db_path {config.db_path!r} is not a file (looked for {path})",
            location="db_path",
            hint="db_path is relative to the file that defines the environment",
        )
    return path


def _build(config: EnvironmentConfig, path: Path | None) -> sqlite3.Connection:
    connection = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA foreign_keys = ON")
    if path is not None:
        source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            source.backup(connection)
        finally:
            source.close()
        return connection
    for key in ("schema_sql", "seed_sql"):
        script = getattr(config, key)
        if not script:
            continue
        try:
            connection.executescript(script)
        except sqlite3.Error as exc:
            raise ConfigError(
                f"database environment {config.id!r}: {key} fails: {exc}",
                location=key,
                hint="check the SQL (it runs with sqlite3's executescript)",
            ) from exc
    return connection


@dataclass(frozen=True)
class DatabaseTool:
    spec: ToolSpec
    sql: str | None = None
    executor: Executor | None = None


@dataclass
class _Guard:
    """What the authorizer enforces during one tool call (and what it saw)."""

    active: bool = False
    read_only: bool = False
    denied_write: bool = False
    touched: set[str] = field(default_factory=set)


class DatabaseEnvironment(ToolEnvironment):
    kind = "database"

    def __init__(
        self, id: str, tools: list[DatabaseTool], template: DatabaseTemplate, initial: dict[str, Any] | None = None
    ) -> None:
        # The template's view and hash are reused as they are: a copy per conversation costs the backup,
        # not a deep copy and a hash of every row in Python.
        super().__init__(id, [t.spec for t in tools], None, None)
        self._state, self._hash = template.view, template.view_hash
        self._origin = StateOrigin(template.shared)
        self.handlers = {t.spec.name: t for t in tools}
        self.connection = template.copy()
        if initial is not None and initial != template.view:
            load_view(self.connection, initial)
            self._state = database_view(self.connection)
            self._hash = state_hash(self._state)
            self._origin = StateOrigin(SharedState(value=self._state, hash=self._hash))
        self._guard = _Guard()
        self.connection.set_authorizer(self._authorize)

    # The database is the state: the table view is kept here, not in a StateStore.
    @property
    def state(self) -> dict[str, Any] | None:
        return copy.deepcopy(self._state) if self._state is not None else None

    @property
    def committed_state(self) -> dict[str, Any] | None:
        return self._state  # never mutated: a write replaces the touched tables (refresh_tables)

    def _commit(self, outcome: Outcome) -> None:
        self._state = outcome.new_state
        self._hash = state_hash(self._state)

    def _authorize(self, action: int, arg1: str | None, arg2: str | None, _db: str | None, _trigger: str | None) -> int:
        guard = self._guard
        if not guard.active:
            return sqlite3.SQLITE_OK
        if action in _NEVER or (action == sqlite3.SQLITE_PRAGMA and arg2 is not None):
            return sqlite3.SQLITE_DENY
        if action in _WRITES:
            if guard.read_only:
                guard.denied_write = True
                return sqlite3.SQLITE_DENY
            guard.touched.add(arg1 if action in _TABLE_WRITES and arg1 else "sqlite_master")
        return sqlite3.SQLITE_OK

    async def _run(self, tool: ToolSpec, arguments: dict[str, Any], context: StepContext) -> Outcome:
        handler = self.handlers[tool.name]
        savepoint = f"envsim_step_{id(self)}"
        self.connection.execute(f"SAVEPOINT {savepoint}")  # before the guard: tool code may not do this
        self._guard = _Guard(active=True, read_only=tool.read_only)
        try:
            outcome = await self._call(handler, arguments)
            if outcome.error is None:
                problem = self._output_problem(tool, outcome.output)
                if problem is not None:
                    outcome = Outcome(error=problem)
        finally:
            guard, self._guard = self._guard, _Guard()
        if outcome.error is not None:
            self.connection.execute(f"ROLLBACK TO {savepoint}")
            self.connection.execute(f"RELEASE {savepoint}")
            return outcome
        self.connection.execute(f"RELEASE {savepoint}")
        if guard.touched:
            assert self._state is not None
            new_state, patch = refresh_tables(self.connection, self._state, guard.touched)
            if patch:
                outcome.new_state, outcome.patch = new_state, patch
        return outcome

    async def _call(self, handler: DatabaseTool, arguments: dict[str, Any]) -> Outcome:
        try:
            if handler.sql is not None:
                output: Any = self._run_sql(handler.sql, arguments)
            else:
                assert handler.executor is not None
                output = handler.executor(arguments=arguments, context=self.connection)
                if inspect.isawaitable(output):
                    output = await output
                output, updated_state = read_oumi_result(output)
                if updated_state is not None:
                    return Outcome(
                        error=f"tool {handler.spec.name!r} returned updated_state; a database tool changes "
                        "the database with SQL on its `context` connection"
                    )
            return Outcome(output=to_json_value(output, "the tool's output"))
        except sqlite3.Error as exc:
            if self._guard.denied_write:
                return Outcome(error=f"tool {handler.spec.name!r} is read-only and must not change the database")
            return Outcome(error=f"SQL error: {exc}")
        except Exception as exc:  # the tool's own failure is the assistant's tool error, not a crash
            return Outcome(error=f"{type(exc).__name__}: {exc}")

    def _run_sql(self, sql: str, arguments: dict[str, Any]) -> Any:
        names = dict.fromkeys(_NAMED_PARAMETER.findall(sql))
        cursor = self.connection.execute(sql, {name: arguments.get(name) for name in names})
        if cursor.description is None:
            return {"rowcount": cursor.rowcount}
        columns = [d[0] for d in cursor.description]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def database_environment(
    config: EnvironmentConfig, tools: list[ToolSpec], base_dir: Path | None, initial: dict[str, Any] | None = None
) -> DatabaseEnvironment:
    """A fresh conversation's instance of a database definition (`tools`: the specs, in config order;
    `initial`: a table view to start from instead of the definition's rows)."""
    template = database_template(config, base_dir)
    handlers = []
    for spec, tool in zip(tools, config.tools, strict=True):
        if tool.sql is not None:
            handlers.append(DatabaseTool(spec=spec, sql=tool.sql))
        elif tool.executor is not None:
            handlers.append(DatabaseTool(spec=spec, executor=resolve_executor(tool.executor, tool.id, base_dir)))
        else:
            raise ConfigError(
                f"tool {tool.id!r} of database environment {config.id!r} has neither sql nor executor",
                hint="give it `sql: SELECT ... WHERE id = :id` or `executor: module.function`",
            )
    return DatabaseEnvironment(config.id, handlers, template, initial)

"""Load-time checks of what oumi configs bring: database environments, `executor:` tools, `grounding`.

Called from `validation._check_environment`; `add(loc, message, hint)` records an error at a path in the
merged config (the loader maps it back to what the user wrote).
"""

from __future__ import annotations

from collections.abc import Callable

from envsim.config.locations import Loc
from envsim.config.models import EnvironmentConfig, EnvironmentType
from envsim.config.spellings import did_you_mean

Add = Callable[[Loc, str, str | None], None]
_DATABASE_ONLY = ("schema_sql", "seed_sql", "db_path")


def check_oumi_environment(env: EnvironmentConfig, loc: Loc, add: Add) -> None:
    kind = env.type
    if kind is EnvironmentType.DATABASE:
        _check_database(env, loc, add)
    else:
        for key in _DATABASE_ONLY:
            if getattr(env, key) is not None:
                add((*loc, key), f"{key} only applies to database environments, this one is {kind}", "remove it")
    for j, tool in enumerate(env.tools):
        tool_loc = (*loc, "tools", j)
        if tool.executor is not None and kind not in (EnvironmentType.SYNTHETIC, EnvironmentType.DATABASE):
            add(
                (*tool_loc, "executor"),
                f"executor applies to synthetic and database environments, this one is {kind}",
                "python environments name their functions with handler: package.module:function",
            )
        if tool.sql is not None and kind is not EnvironmentType.DATABASE:
            add((*tool_loc, "sql"), f"sql only applies to database environments, this one is {kind}", "remove it")
    if kind is EnvironmentType.SYNTHETIC and env.state_params is not None:
        with_executor = [t.id for t in env.tools if t.executor]
        without = [t.id for t in env.tools if not t.executor]
        if with_executor and without:
            add(
                (*loc, "tools"),
                f"stateful environment '{env.id}' mixes executor tools with simulated ones "
                f"({', '.join(without)} have no executor)",
                "give every tool an executor (oumi's rule for stateful environments), or none",
            )
    if env.grounding is not None:
        _check_grounding(env, (*loc, "grounding"), add)


def _check_database(env: EnvironmentConfig, loc: Loc, add: Add) -> None:
    if (env.schema_sql is None) == (env.db_path is None):
        add(loc, f"database environment '{env.id}' needs exactly one of schema_sql and db_path", None)
    if env.seed_sql is not None and env.schema_sql is None:
        add((*loc, "seed_sql"), "seed_sql needs schema_sql (a db_path database already holds its rows)", None)
    if env.state_params is not None:
        add(
            (*loc, "state_params"),
            "a database environment's state is its tables; it takes no state_params",
            "put the rows in seed_sql",
        )
    for j, tool in enumerate(env.tools):
        if (tool.sql is None) == (tool.executor is None):
            add(
                (*loc, "tools", j),
                f"tool '{tool.id}' of database environment '{env.id}' needs exactly one of sql and executor",
                "sql: SELECT ... WHERE id = :id (arguments bind by name), or executor: module.function",
            )


def _check_grounding(env: EnvironmentConfig, loc: Loc, add: Add) -> None:
    grounding = env.grounding
    assert grounding is not None
    tool_ids = [t.id for t in env.tools]
    for tool_id in grounding.tools:
        if env.type is not EnvironmentType.DETERMINISTIC:
            add(
                (*loc, "tools", tool_id),
                f"grounding.tools reads lookup tables, which only deterministic environments have ({env.type})",
                "use grounding.state with a state_path (a list in the state, or a database table)",
            )
        elif tool_id not in tool_ids:
            suggestion = did_you_mean(tool_id, tool_ids)
            add(
                (*loc, "tools", tool_id),
                f"grounding names tool '{tool_id}', which environment '{env.id}' does not define",
                f"did you mean '{suggestion}'?" if suggestion else f"its tools are: {', '.join(tool_ids)}",
            )
    if not grounding.state:
        return
    if env.type is EnvironmentType.DATABASE:
        return  # table names are checked when the database is built
    state = env.state_params.initial_state if env.state_params is not None else None
    for k, entry in enumerate(grounding.state):
        if state is None:
            add(
                (*loc, "state", k),
                f"grounding.state reads the environment's state, and '{env.id}' has none",
                "add state_params with an initial_state, or use grounding.tools on a deterministic environment",
            )
            return
        if not isinstance(state.get(entry.state_path), list):
            found = "missing" if entry.state_path not in state else type(state[entry.state_path]).__name__
            add(
                (*loc, "state", k, "state_path"),
                f"state_path '{entry.state_path}' must name a list of records in initial_state ({found})",
                f"top-level keys of the state: {', '.join(sorted(state)) or '(none)'}",
            )

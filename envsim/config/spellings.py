"""Accepted alternative spellings, normalized to the documented form before validation.

Real users have files in oumi's code spelling of environments:

    - id: faq
      env_type: synthetic            # or simulated | deterministic | lookup
      env_kwargs:
        tool_persona: You answer FAQ questions.
        state_params: {state_schema: ..., initial_state: ...}
        cache_by_input: true
        lookup_table: {get_policy: [{input: {...}, output: {...}}]}
      tools: [...]

which becomes `type`, `system_prompt`, `state_params`, `cache_by_input` and per-tool
`deterministic_outputs`, so the rest of envsim only ever sees the documented form. oumi's defaults
travel with its spelling: `cache_by_input` defaults to true for stateless synthetic environments and
tools default to `read_only: true`. Role names are accepted in either case (`user` / `USER`).
"""

from __future__ import annotations

import copy
import difflib
from dataclasses import dataclass, field
from typing import Any

from envsim.config.locations import Loc, PathMap

# Aliases of environment kinds, in either spelling (oumi renamed synthetic -> simulated and
# deterministic -> lookup, keeping the old names as aliases).
ENVIRONMENT_TYPE_ALIASES = {
    "synthetic": "synthetic",
    "simulated": "synthetic",
    "deterministic": "deterministic",
    "lookup": "deterministic",
    "python": "python",
    "database": "database",
}
OUMI_ONLY_TYPES = {"browser", "endpoint", "executable"}

DOCUMENTED_ENV_KEYS = ("type", "system_prompt", "state_params", "cache_by_input")
OUMI_ENV_KEYS = ("env_type", "env_kwargs")
OUMI_SYNTHETIC_KWARGS = ("tool_persona", "state_params", "cache_by_input", "use_guided_decoding")
OUMI_LOOKUP_KWARGS = ("lookup_table",)
OUMI_DATABASE_KWARGS = ("db_path", "schema_sql", "seed_sql")

ROLE_NAMES = ("SYSTEM", "USER", "ASSISTANT")


@dataclass
class SpellingIssue:
    """A problem found while normalizing; `loc` is relative to the environment (as written)."""

    loc: Loc
    message: str
    hint: str | None = None


@dataclass
class NormalizedEnvironment:
    data: Any
    paths: PathMap = field(default_factory=PathMap)
    issues: list[SpellingIssue] = field(default_factory=list)


def did_you_mean(word: str, choices: list[str] | tuple[str, ...]) -> str | None:
    """The closest allowed spelling of `word`, if any is close enough to be a likely typo."""
    matches = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    if not matches:
        lowered = {c.lower(): c for c in choices}
        return lowered.get(word.lower())
    return matches[0]


def uses_oumi_spelling(env: Any) -> bool:
    return isinstance(env, dict) and any(key in env for key in OUMI_ENV_KEYS)


def normalize_environment(env: Any) -> NormalizedEnvironment:
    """Return the documented form of one environment mapping (anything else is passed through).

    Paths in the result's PathMap and issues are relative to the environment itself.
    """
    if not isinstance(env, dict):
        return NormalizedEnvironment(data=env)
    result = NormalizedEnvironment(data=copy.deepcopy(env))
    data = result.data
    if uses_oumi_spelling(env):
        _from_oumi(env, result)
    else:
        if isinstance(data.get("type"), str):
            data["type"] = _canonical_type(data["type"], ("type",), result)
        _top_level_tool_persona(data, result)
    return result


def _top_level_tool_persona(data: dict[str, Any], result: NormalizedEnvironment) -> None:
    """oumi's synthesis guide writes `type: synthetic` with `tool_persona:` beside it: the system_prompt."""
    if "tool_persona" not in data:
        return
    if "system_prompt" in data:
        result.issues.append(
            SpellingIssue(("tool_persona",), "both tool_persona and system_prompt are set", "keep system_prompt")
        )
        return
    data["system_prompt"] = data.pop("tool_persona")
    result.paths.add(("system_prompt",), ("tool_persona",))


def _canonical_type(value: str, loc: Loc, result: NormalizedEnvironment) -> str:
    lowered = value.lower()
    if lowered in ENVIRONMENT_TYPE_ALIASES:
        return ENVIRONMENT_TYPE_ALIASES[lowered]
    if lowered in OUMI_ONLY_TYPES:
        result.issues.append(
            SpellingIssue(
                loc,
                f"environment type '{value}' is an oumi environment that envsim does not support",
                "use synthetic (an LLM plays the backend), deterministic (a lookup table), python "
                "(your own functions) or database (SQLite)",
            )
        )
    return value  # unknown values are reported by validation, with the allowed ones


def _from_oumi(env: dict[str, Any], result: NormalizedEnvironment) -> None:
    data = result.data
    mixed = [key for key in DOCUMENTED_ENV_KEYS if key in env]
    mixed += [
        f"tools[{i}].deterministic_outputs"
        for i, tool in enumerate(env.get("tools") or [])
        if isinstance(tool, dict) and "deterministic_outputs" in tool
    ]
    if mixed:
        oumi = [key for key in OUMI_ENV_KEYS if key in env]
        result.issues.append(
            SpellingIssue(
                (),
                f"mixes the documented spelling ({', '.join(mixed)}) with oumi's ({', '.join(oumi)})",
                "use one spelling per environment: either type/system_prompt/state_params/cache_by_input with "
                "per-tool deterministic_outputs, or env_type with env_kwargs "
                "(tool_persona, state_params, cache_by_input, lookup_table)",
            )
        )
        return

    env_type = data.pop("env_type", None)
    if env_type is not None:
        result.paths.add(("type",), ("env_type",))
        data["type"] = _canonical_type(env_type, ("env_type",), result) if isinstance(env_type, str) else env_type
    kwargs = data.pop("env_kwargs", None)
    if kwargs is None:
        kwargs = {}
    if not isinstance(kwargs, dict):
        result.issues.append(
            SpellingIssue(("env_kwargs",), f"env_kwargs must be a mapping, got {type(kwargs).__name__}")
        )
        return
    kind = data.get("type")
    allowed = OUMI_LOOKUP_KWARGS if kind == "deterministic" else OUMI_SYNTHETIC_KWARGS
    if kind == "python":
        allowed = ("state_params",)
    if kind == "database":
        allowed = OUMI_DATABASE_KWARGS
    for key in kwargs:
        if key not in allowed:
            suggestion = did_you_mean(str(key), allowed)
            hint = f"did you mean '{suggestion}'?" if suggestion else f"allowed keys here: {', '.join(allowed)}"
            result.issues.append(
                SpellingIssue(("env_kwargs", key), f"unknown key '{key}' in env_kwargs of a {kind} environment", hint)
            )

    for key in OUMI_DATABASE_KWARGS:
        if kind == "database" and key in kwargs:
            data[key] = kwargs[key]
            result.paths.add((key,), ("env_kwargs", key))
    if "tool_persona" in kwargs:
        data["system_prompt"] = kwargs["tool_persona"]
        result.paths.add(("system_prompt",), ("env_kwargs", "tool_persona"))
    if "state_params" in kwargs:
        data["state_params"] = kwargs["state_params"]
        result.paths.add(("state_params",), ("env_kwargs", "state_params"))
    if "cache_by_input" in kwargs:
        data["cache_by_input"] = kwargs["cache_by_input"]
        result.paths.add(("cache_by_input",), ("env_kwargs", "cache_by_input"))
    elif kind == "synthetic" and kwargs.get("state_params") is None:
        data["cache_by_input"] = True  # oumi's default for stateless simulated environments

    tools = data.get("tools")
    if isinstance(tools, list):
        for tool in tools:
            if isinstance(tool, dict) and "read_only" not in tool:
                tool["read_only"] = True  # oumi's default (ToolParams.read_only = True)
    if "lookup_table" in kwargs:
        _attach_lookup_table(kwargs["lookup_table"], tools, result)


def _attach_lookup_table(table: Any, tools: Any, result: NormalizedEnvironment) -> None:
    if not isinstance(table, dict):
        result.issues.append(
            SpellingIssue(
                ("env_kwargs", "lookup_table"),
                f"lookup_table must be a mapping of tool id to a list of {{input, output}}, got {type(table).__name__}",
            )
        )
        return
    tool_index = {tool.get("id"): i for i, tool in enumerate(tools or []) if isinstance(tool, dict) and "id" in tool}
    for tool_id, entries in table.items():
        index = tool_index.get(tool_id)
        if index is None:
            suggestion = did_you_mean(str(tool_id), [str(t) for t in tool_index])
            hint = (
                f"did you mean '{suggestion}'?"
                if suggestion
                else f"the environment's tools are: {', '.join(map(str, tool_index)) or '(none)'}"
            )
            result.issues.append(
                SpellingIssue(
                    ("env_kwargs", "lookup_table", tool_id),
                    f"lookup_table names tool '{tool_id}', which this environment does not define",
                    hint,
                )
            )
            continue
        tools[index]["deterministic_outputs"] = entries
        result.paths.add(("tools", index, "deterministic_outputs"), ("env_kwargs", "lookup_table", tool_id))


def normalize_role_keys(mapping: Any) -> Any:
    """`{user: .., Assistant: ..}` -> `{USER: .., ASSISTANT: ..}`. Raises ValueError when two keys collide."""
    if not isinstance(mapping, dict):
        return mapping
    out: dict[Any, Any] = {}
    for key, value in mapping.items():
        upper = key.upper() if isinstance(key, str) else key
        if upper in out:
            raise ValueError(f"role '{upper}' is given twice (as '{upper}' and in another case)")
        out[upper] = value
    return out


def normalize_role(value: Any) -> Any:
    """`user` -> `USER` for a message role; other values pass through for validation to report."""
    return value.upper() if isinstance(value, str) else value

"""Scenario catalogs: concrete conversations (attributes, initial state, optional script, expectations).

A catalog file (YAML) names the environment catalog(s) it runs against and lists scenarios:

    environment_config_path: ../environments/retail/retail.yaml   # or a list of files
    inference_config: {...}            # optional: models for live runs (and synthetic tools in replays)
    multiturn: {id: ..., role_instruction_messages: {USER: ..., ASSISTANT: ...}, min_turns: 2, max_turns: 6}
    scenarios:
      - id: cancel-pending
        description: ...
        attributes: {persona: ...}
        initial_state: {retail: {patch: [{op: replace, path: /orders/#W1001/status, value: pending}]}}
        script:
          - user: Please cancel order #W1001.
          - assistant:
              tool_calls: [{name: cancel_pending_order, arguments: {order_id: "#W1001", reason: ...}}]
              text: Done, it is cancelled.
        expect: {state: [{path: /orders/#W1001/status, equals: cancelled}], communicates: [cancelled]}

An assistant turn may run several tool rounds (`rounds: [[calls...], [calls...]]` instead of
`tool_calls`). Synthetic tools take their reply from the script (`output`, and `patch` for stateful
ones). Everything is checked at load time; errors name the file, the path inside it and a fix.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from envsim.config.loader import load_environment_catalog
from envsim.config.locations import Loc, format_loc
from envsim.config.models import EnvironmentConfig, InferenceConfig, MultiTurnAttribute, StrictModel
from envsim.config.overrides import apply_overrides
from envsim.config.pydantic_errors import explain_validation_error
from envsim.config.yaml_source import YamlDocument, read_yaml
from envsim.environments.handlers import is_file_reference
from envsim.environments.schema import schema_errors
from envsim.environments.state import PatchError, apply_patch
from envsim.errors import ConfigError, ConfigErrors
from envsim.recording.trace import TerminationReason

CATALOG_SUFFIXES = (".yaml", ".yml")

# --------------------------------------------------------------------------- script


class ScriptToolCall(StrictModel):
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    id: str | None = None  # default: a deterministic id from the scenario position
    # Synthetic tools only: what the simulated backend replies (output) and how its state changes (patch).
    output: Any = None
    patch: list[dict[str, Any]] | None = None

    @property
    def has_recorded_reply(self) -> bool:
        return "output" in self.model_fields_set or self.patch is not None


class AssistantTurn(StrictModel):
    tool_calls: list[ScriptToolCall] = Field(default_factory=list)  # one round of (parallel) calls
    rounds: list[list[ScriptToolCall]] = Field(default_factory=list)  # several rounds, in order
    text: str | None = None  # the final answer of the turn

    @model_validator(mode="after")
    def _one_shape(self) -> AssistantTurn:
        if self.tool_calls and self.rounds:
            raise ValueError("give either `tool_calls` (one round) or `rounds` (several), not both")
        if not self.tool_calls and not self.rounds and self.text is None:
            raise ValueError("an assistant turn needs `text`, `tool_calls` or `rounds`")
        if any(not r for r in self.rounds):
            raise ValueError("every entry of `rounds` must list at least one tool call")
        return self

    def tool_rounds(self) -> list[list[ScriptToolCall]]:
        return self.rounds or ([self.tool_calls] if self.tool_calls else [])


class ScriptEntry(StrictModel):
    user: str | None = None
    assistant: AssistantTurn | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> ScriptEntry:
        if (self.user is None) == (self.assistant is None):
            raise ValueError("each script entry is either `user: <text>` or `assistant: {...}`")
        return self


# --------------------------------------------------------------------------- initial state


class StateOverride(StrictModel):
    """A scenario's initial state for one environment: a full replacement or a patch over the catalog's."""

    state: dict[str, Any] | None = None
    patch: list[dict[str, Any]] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> StateOverride:
        if (self.state is None) == (self.patch is None):
            raise ValueError("give either `state` (a full state) or `patch` (a JSON Patch over the catalog state)")
        return self

    def as_override(self) -> dict[str, Any] | list[dict[str, Any]]:
        return copy.deepcopy(self.state if self.state is not None else self.patch)  # type: ignore[return-value]


# --------------------------------------------------------------------------- expectations


class StateAssertion(StrictModel):
    """One check on a final state, by JSON Pointer. Exactly one of equals / contains / absent."""

    env: str | None = None  # optional when the catalog has one stateful environment
    path: str
    equals: Any = None
    contains: Any = None
    absent: Literal[True] | None = None

    @field_validator("path")
    @classmethod
    def _pointer(cls, value: str) -> str:
        if value and not value.startswith("/"):
            raise ValueError(f"{value!r} is not a JSON Pointer: it must start with '/' (e.g. /orders/#W1/status)")
        return value

    @model_validator(mode="after")
    def _one_check(self) -> StateAssertion:
        given = [k for k in ("equals", "contains", "absent") if k in self.model_fields_set]
        if len(given) != 1:
            raise ValueError("a state assertion needs exactly one of `equals`, `contains`, `absent: true`")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in ("equals", "contains", "absent") if k in self.model_fields_set)


class ToolCallExpectation(StrictModel):
    """A tool call that must (or must not) appear; arguments match exactly or as a subset."""

    name: str
    arguments: dict[str, Any] | None = None  # None: any arguments
    match: Literal["subset", "exact"] = "subset"
    outcome: Literal["any", "success", "error"] = "any"
    error_contains: str | None = None  # implies outcome: error


class ToolCallCount(StrictModel):
    name: str | None = None  # None: all tool calls
    equals: int | None = Field(default=None, ge=0)
    min: int | None = Field(default=None, ge=0)
    max: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _some_bound(self) -> ToolCallCount:
        if self.equals is None and self.min is None and self.max is None:
            raise ValueError("give `equals`, `min` or `max`")
        return self


class Expectations(StrictModel):
    state: list[StateAssertion] = Field(default_factory=list)
    state_hash: dict[str, str] = Field(default_factory=dict)  # environment id -> sha256 of the final state
    tools_called: list[ToolCallExpectation] = Field(default_factory=list)
    tools_not_called: list[ToolCallExpectation] = Field(default_factory=list)
    tool_call_count: list[ToolCallCount] = Field(default_factory=list)
    communicates: list[str] = Field(default_factory=list)  # case-insensitive substrings of assistant text
    no_tool_errors: bool = False  # every tool call succeeded
    termination: TerminationReason | None = None

    def is_empty(self) -> bool:
        return self == Expectations()


# --------------------------------------------------------------------------- scenarios and catalogs


class Scenario(StrictModel):
    id: str = Field(min_length=1)
    description: str = ""
    attributes: dict[str, Any] = Field(default_factory=dict)
    seed: int | None = None  # default: derived from the catalog seed and the scenario's position
    initial_state: dict[str, StateOverride] = Field(default_factory=dict)
    script: list[ScriptEntry] | None = None
    expect: Expectations = Field(default_factory=Expectations)

    @property
    def scripted(self) -> bool:
        return bool(self.script)


class ScenarioCatalog(StrictModel):
    environment_config_path: str | list[str]
    inference_config: InferenceConfig | None = None
    multiturn: MultiTurnAttribute | None = None
    seed: int = 0
    output_path: str | None = None  # live runs: the dataset file (relative to the catalog)
    scenarios: list[Scenario] = Field(default_factory=list)

    @property
    def environment_paths(self) -> list[str]:
        paths = self.environment_config_path
        return [paths] if isinstance(paths, str) else list(paths)


@dataclass
class LoadedCatalog:
    """A validated catalog with its environments (file handlers made absolute, so one base dir is not needed)."""

    path: Path
    catalog: ScenarioCatalog
    environments: list[EnvironmentConfig]

    @property
    def scenarios(self) -> list[Scenario]:
        return self.catalog.scenarios

    def environment(self, env_id: str) -> EnvironmentConfig | None:
        return next((e for e in self.environments if e.id == env_id), None)

    def tool_environment(self, tool: str) -> EnvironmentConfig | None:
        return next((e for e in self.environments if any(t.id == tool for t in e.tools)), None)

    def initial_states(self, scenario: Scenario) -> dict[str, Any]:
        """Per-environment overrides as `EnvironmentSet.build(initial_states=...)` takes them."""
        return {env_id: override.as_override() for env_id, override in scenario.initial_state.items()}

    def resolved_initial_state(self, scenario: Scenario, env_id: str) -> dict[str, Any] | None:
        """The state `env_id` starts from in `scenario` (catalog state with the override applied)."""
        env = self.environment(env_id)
        if env is None or env.state_params is None:
            return None
        override = scenario.initial_state.get(env_id)
        base = copy.deepcopy(env.state_params.initial_state)
        if override is None:
            return base
        if override.state is not None:
            return copy.deepcopy(override.state)
        return apply_patch(base, override.patch)


# --------------------------------------------------------------------------- loading


def catalog_files(path: str | Path) -> list[Path]:
    """A catalog file, or every *.yaml / *.yml catalog in a directory (sorted, non-recursive)."""
    p = Path(path)
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.suffix in CATALOG_SUFFIXES and f.is_file())
        if not files:
            raise ConfigError("no scenario catalog files (*.yaml, *.yml) in this directory", file=str(p))
        return files
    if not p.exists():
        raise ConfigError("file not found", file=str(p), hint="name a scenario catalog file or a directory of them")
    return [p]


def load_catalogs(path: str | Path) -> list[LoadedCatalog]:
    """Load a catalog file or a directory of them; scenario ids must be unique across all of them."""
    loaded = [load_catalog(f) for f in catalog_files(path)]
    seen: dict[str, Path] = {}
    errors: list[ConfigError] = []
    for item in loaded:
        for i, scenario in enumerate(item.scenarios):
            if scenario.id in seen:
                errors.append(
                    ConfigError(
                        f"scenario id {scenario.id!r} is also used in {seen[scenario.id]}",
                        file=str(item.path),
                        location=f"scenarios[{i}].id",
                        hint="scenario ids must be unique across the catalogs replayed together",
                    )
                )
            seen[scenario.id] = item.path
    if errors:
        raise ConfigErrors(errors)
    return loaded


def load_catalog(path: str | Path, overrides: list[str] | None = None) -> LoadedCatalog:
    """Load and check one catalog file (`overrides`: `a.b[0].c=VALUE` edits, as for configs).
    Raises `ConfigErrors` listing every problem with its location."""
    path = Path(path)
    doc = read_yaml(path)
    if not isinstance(doc.data, dict):
        raise ConfigError(
            "a scenario catalog is a mapping with `environment_config_path` and `scenarios`", file=str(path)
        )
    data = apply_overrides(doc.data, overrides, model=ScenarioCatalog) if overrides else doc.data
    try:
        catalog = ScenarioCatalog.model_validate(data)
    except ValidationError as exc:
        raise ConfigErrors(
            [_error(doc, e.loc, e.message, e.hint) for e in explain_validation_error(exc, ScenarioCatalog)]
        ) from None
    environments = _load_environments(catalog, path, doc)
    loaded = LoadedCatalog(path=path, catalog=catalog, environments=environments)
    errors = _check(loaded, doc)
    if errors:
        raise ConfigErrors(errors)
    return loaded


def _error(doc: YamlDocument, loc: Loc, message: str, hint: str | None = None) -> ConfigError:
    return ConfigError(message, file=str(doc.path), location=format_loc(loc) or None, hint=hint, line=doc.line_of(loc))


def _load_environments(catalog: ScenarioCatalog, path: Path, doc: YamlDocument) -> list[EnvironmentConfig]:
    environments: list[EnvironmentConfig] = []
    many = isinstance(catalog.environment_config_path, list)
    for i, named in enumerate(catalog.environment_paths):
        loc: Loc = ("environment_config_path", i) if many else ("environment_config_path",)
        file = (path.parent / Path(named).expanduser()).resolve()
        if not file.is_file():
            hint = "paths are relative to the scenario catalog file"
            raise _error(doc, loc, f"environment catalog '{named}' not found (looked for {file})", hint)
        env_catalog = load_environment_catalog(file)
        for env in env_catalog.environments:
            environments.append(_absolute_handlers(env, file.parent))
    ids = [e.id for e in environments]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise _error(doc, ("environment_config_path",), f"environment id(s) {duplicates} defined more than once")
    return environments


def _absolute_handlers(env: EnvironmentConfig, base_dir: Path) -> EnvironmentConfig:
    """File handlers (`tools.py:fn`) are relative to their own catalog; make them absolute so
    environments from several catalog files can live in one EnvironmentSet."""

    def absolute(ref: str | None) -> str | None:
        if ref is None:
            return None
        module, sep, attribute = ref.rpartition(":")
        if sep and is_file_reference(module):
            return f"{(base_dir / module).resolve()}:{attribute}"
        if not sep and is_file_reference(ref):  # `module:` may name a file
            return str((base_dir / ref).resolve())
        return ref

    tools = [t.model_copy(update={"handler": absolute(t.handler)}) for t in env.tools]
    return env.model_copy(update={"tools": tools, "module": absolute(env.module)})


def _check(loaded: LoadedCatalog, doc: YamlDocument) -> list[ConfigError]:
    """Semantic checks: unique ids, known environments/tools, overrides that apply and validate,
    assertions that name a stateful environment."""
    errors: list[ConfigError] = []
    stateful = [e.id for e in loaded.environments if e.state_params is not None]
    tools = {t.id: e for e in loaded.environments for t in e.tools}
    seen: set[str] = set()
    for i, scenario in enumerate(loaded.scenarios):
        at: Loc = ("scenarios", i)
        if scenario.id in seen:
            errors.append(_error(doc, (*at, "id"), f"duplicate scenario id {scenario.id!r}", "ids must be unique"))
        seen.add(scenario.id)
        errors += _check_initial_state(loaded, scenario, at, doc)
        errors += _check_script(scenario, tools, at, doc)
        errors += _check_expectations(scenario.expect, stateful, tools, (*at, "expect"), doc)
    return errors


def _check_initial_state(loaded: LoadedCatalog, scenario: Scenario, at: Loc, doc: YamlDocument) -> list[ConfigError]:
    errors = []
    for env_id in scenario.initial_state:
        loc = (*at, "initial_state", env_id)
        env = loaded.environment(env_id)
        if env is None or env.state_params is None:
            known = [e.id for e in loaded.environments if e.state_params is not None]
            what = "unknown environment" if env is None else "environment without state"
            errors.append(_error(doc, loc, f"{what} {env_id!r}; stateful environments: {known or '(none)'}"))
            continue
        try:
            state = loaded.resolved_initial_state(scenario, env_id)
        except PatchError as exc:
            errors.append(_error(doc, (*loc, "patch"), f"the patch does not apply to the catalog state: {exc.message}"))
            continue
        problems = schema_errors(env.state_params.state_schema or {}, state)
        if problems:
            shown = "; ".join(problems[:3]) + (f" (and {len(problems) - 3} more)" if len(problems) > 3 else "")
            errors.append(
                _error(doc, loc, f"the resulting initial state does not match the state_schema of {env_id!r}: {shown}")
            )
    return errors


def _check_script(
    scenario: Scenario, tools: dict[str, EnvironmentConfig], at: Loc, doc: YamlDocument
) -> list[ConfigError]:
    errors: list[ConfigError] = []
    ids: set[str] = set()
    for j, entry in enumerate(scenario.script or []):
        if entry.assistant is None:
            continue
        shape = "rounds" if entry.assistant.rounds else "tool_calls"
        for r, calls in enumerate(entry.assistant.tool_rounds()):
            for k, call in enumerate(calls):
                base: Loc = (*at, "script", j, "assistant")
                loc = (*base, "rounds", r, k) if shape == "rounds" else (*base, "tool_calls", k)
                env = tools.get(call.name)
                if env is None:
                    errors.append(
                        _error(
                            doc,
                            (*loc, "name"),
                            f"unknown tool {call.name!r}",
                            f"available tools: {', '.join(sorted(tools))}",
                        )
                    )
                elif call.has_recorded_reply and env.type != "synthetic":
                    errors.append(
                        _error(
                            doc,
                            loc,
                            f"tool {call.name!r} belongs to the {env.type} environment {env.id!r}, which computes "
                            "its own output; `output`/`patch` are only for synthetic tools",
                            "remove output/patch from this call",
                        )
                    )
                if call.id is not None:
                    if call.id in ids:
                        errors.append(_error(doc, (*loc, "id"), f"duplicate tool call id {call.id!r}"))
                    ids.add(call.id)
    return errors


def _check_expectations(
    expect: Expectations, stateful: list[str], tools: dict[str, EnvironmentConfig], at: Loc, doc: YamlDocument
) -> list[ConfigError]:
    errors = []
    for i, assertion in enumerate(expect.state):
        loc = (*at, "state", i)
        names = ", ".join(stateful) or "(none)"
        if assertion.env is None and len(stateful) != 1:
            message = f"`env` is required: the catalog has {len(stateful)} stateful environments ({names})"
            errors.append(_error(doc, loc, message))
        elif assertion.env is not None and assertion.env not in stateful:
            message = f"{assertion.env!r} is not a stateful environment of this catalog; stateful: {names}"
            errors.append(_error(doc, (*loc, "env"), message))
    for env_id in expect.state_hash:
        if env_id not in stateful:
            errors.append(_error(doc, (*at, "state_hash", env_id), f"{env_id!r} is not a stateful environment"))
    for key in ("tools_called", "tools_not_called", "tool_call_count"):
        for i, item in enumerate(getattr(expect, key)):
            if item.name is not None and item.name not in tools:
                hint = f"available tools: {', '.join(sorted(tools))}"
                errors.append(_error(doc, (*at, key, i, "name"), f"unknown tool {item.name!r}", hint))
    return errors


def default_state_env(loaded: LoadedCatalog) -> str | None:
    """The only stateful environment, which state assertions without `env` refer to."""
    stateful = [e.id for e in loaded.environments if e.state_params is not None]
    return stateful[0] if len(stateful) == 1 else None

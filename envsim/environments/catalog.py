"""`EnvironmentSet`: one conversation's fresh environment instances, built from catalog definitions.

    envs = EnvironmentSet.build(catalog.environments, model=env_model, base_dir=catalog_dir)
    tools = envs.tool_specs()                      # what the assistant is offered
    result = await envs.step(tool_call, context)   # routed to the environment owning the tool
    envs.committed_states()                        # state per stateful environment (read-only, O(1))
    envs.state_origins()                           # the shared base + patch each one started from

Definitions are reusable; every `build` gives new instances with their own state.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from envsim.config.models import EnvironmentConfig, EnvironmentType, ToolConfig
from envsim.environments.arguments import parse_raw_arguments, unknown_tool_message
from envsim.environments.base import Environment, StepContext, StepResult
from envsim.environments.database import database_environment
from envsim.environments.database_view import database_override
from envsim.environments.deterministic import DeterministicEnvironment
from envsim.environments.hybrid import hybrid_python_tools, runs_as_python
from envsim.environments.python import PythonEnvironment, PythonTool, python_tools_from_config
from envsim.environments.shared_states import IdentityCache, shared_initial_state
from envsim.environments.state_origin import StateOrigin, read_only
from envsim.environments.state_tree import SharedState
from envsim.environments.synthetic import SyntheticEnvironment
from envsim.environments.tool_cache import open_tool_cache
from envsim.errors import ConfigError
from envsim.messages import ToolCall, ToolSpec
from envsim.models.base import ChatModel, GenerationParams, Usage

# An initial-state override is a full state (object) or a JSON Patch over the catalog's state (list).
StateOverride = dict[str, Any] | list[dict[str, Any]]


class EnvironmentSet:
    def __init__(self, environments: Sequence[Environment]) -> None:
        self.environments: dict[str, Environment] = {}
        self._owners: dict[str, Environment] = {}
        for env in environments:
            if env.id in self.environments:
                raise ConfigError(f"environment id {env.id!r} is used twice", hint="give every environment a unique id")
            self.environments[env.id] = env
            for name in env.tools:
                other = self._owners.get(name)
                if other is not None:
                    raise ConfigError(
                        f"tool {name!r} is defined by both environment {other.id!r} and {env.id!r}; "
                        "a conversation must be able to tell them apart",
                        hint="rename one of the tools, or do not make both environments available together",
                    )
                self._owners[name] = env
        self.usage = Usage()  # model usage of every step so far (synthetic environments)

    @classmethod
    def build(
        cls,
        configs: Sequence[EnvironmentConfig],
        *,
        model: ChatModel | None = None,
        base_dir: Path | None = None,
        cache_dir: Path | None = None,
        initial_states: dict[str, StateOverride] | None = None,
        only: Sequence[str] | None = None,
        generation: GenerationParams | None = None,
    ) -> EnvironmentSet:
        """Fresh instances of `configs` (restricted to the ids in `only` when non-empty).

        `base_dir`: where relative handler/module files live (the catalog file's directory).
        `cache_dir`: the `cache_by_input` store (default `.envsim_cache/tools` under the cwd).
        `initial_states`: per-environment override: a full state, or a JSON Patch over the catalog's.
        """
        defined = [c.id for c in configs]
        selected = list(configs)
        if only:
            unknown = [name for name in only if name not in defined]
            if unknown:
                raise ConfigError(
                    f"unknown environment(s) {', '.join(map(repr, unknown))}; "
                    f"defined: {', '.join(defined) or '(none)'}",
                    hint="fix available_environments (or the catalog)",
                )
            selected = [c for c in configs if c.id in set(only)]
        overrides = dict(initial_states or {})
        stray = [name for name in overrides if name not in {c.id for c in selected}]
        if stray:
            raise ConfigError(
                f"initial state given for unknown or unavailable environment(s) {', '.join(map(repr, stray))}; "
                f"available: {', '.join(c.id for c in selected) or '(none)'}",
            )
        environments = []
        for config in selected:
            index = defined.index(config.id)
            try:
                state, patch = _initial_state(config, overrides.get(config.id))
                environments.append(_build_one(config, state, patch, model, base_dir, cache_dir, generation))
            except ConfigError as exc:
                if exc.location is None:
                    exc.location = f"environments[{index}]"
                    exc.args = (exc.render(),)
                raise
        return cls(environments)

    # ------------------------------------------------------------------ queries

    def tool_specs(self, tools: Sequence[str] | None = None) -> list[ToolSpec]:
        """Specs of all tools, or of the named ones; always in environment order (stable traces)."""
        specs = [spec for env in self.environments.values() for spec in env.tool_specs()]
        if not tools:
            return specs
        unknown = [name for name in tools if name not in self._owners]
        if unknown:
            raise ConfigError(
                f"unknown tool(s) {', '.join(map(repr, unknown))}; available: {', '.join(sorted(self._owners))}",
                hint="fix available_tools (tools must belong to the conversation's available_environments)",
            )
        wanted = set(tools)
        return [spec for spec in specs if spec.name in wanted]

    def environment_of(self, tool_name: str) -> Environment | None:
        return self._owners.get(tool_name)

    def validation_fallbacks(self) -> dict[str, str]:
        """Environment id -> why its state schema is validated in full rather than incrementally (for the
        run summary to say once); environments checked incrementally are absent."""
        reasons = {}
        for env_id, env in self.environments.items():
            store = getattr(env, "state_store", None)
            validator = store.validator if store is not None else None
            if validator is not None and validator.fallback_reason is not None:
                reasons[env_id] = validator.fallback_reason
        return reasons

    def states(self) -> dict[str, dict[str, Any]]:
        """Current state of every stateful environment (fresh plain copies: O(state), not for every step)."""
        return {env_id: env.state for env_id, env in self.environments.items() if env.stateful}  # type: ignore[misc]

    def state_origins(self) -> dict[str, StateOrigin]:
        """Per stateful environment that keeps one, the shared base state and patch it started from."""
        return {env_id: env.state_origin for env_id, env in self._stateful() if env.state_origin is not None}

    def initial_states(self) -> dict[str, dict[str, Any]]:
        """The state every stateful environment started from. Read-only views, O(override) each, where the
        origin is known; for other kinds a copy of the current state (take it before the first step)."""
        return {
            env_id: env.state_origin.initial() if env.state_origin is not None else env.state  # type: ignore[misc]
            for env_id, env in self._stateful()
        }

    def committed_states(self) -> dict[str, dict[str, Any]]:
        """The current state of every stateful environment without copying it where the kind can: a
        read-only view (O(1)) of what it shares with other episodes; otherwise a copy."""
        return {
            env_id: read_only(env.committed_state) if env.state_origin is not None else env.committed_state  # type: ignore[arg-type,misc]
            for env_id, env in self._stateful()
        }

    def _stateful(self) -> list[tuple[str, Environment]]:
        return [(env_id, env) for env_id, env in self.environments.items() if env.stateful]

    # ------------------------------------------------------------------ stepping

    async def step(self, call: ToolCall, context: StepContext | None = None) -> StepResult:
        env = self._owners.get(call.name)
        if env is None:
            return StepResult(
                environment="",
                tool=call.name,
                call_id=call.id,
                arguments=parse_raw_arguments(call),
                error=unknown_tool_message(call.name, self._owners),
            )
        result = await env.step(call, context)
        if result.usage is not None:
            self.usage = self.usage + result.usage
        return result


# Resolving handlers (imports, file paths) once per config and process, not once per conversation.
_PYTHON_TOOLS: IdentityCache[list[PythonTool]] = IdentityCache(64)


def tool_spec_from_config(tool: ToolConfig) -> ToolSpec:
    return ToolSpec(
        name=tool.id,
        description=tool.description,
        parameters=tool.parameters,
        output_schema=tool.output_schema,
        read_only=tool.read_only,
    )


def _initial_state(
    config: EnvironmentConfig, override: StateOverride | None
) -> tuple[SharedState | dict[str, Any] | None, list[dict[str, Any]] | None]:
    """The shared state an instance starts from, and the JSON Patch over it (a patch override).

    The catalog's state is copied, hashed and validated once per process and shared (O(1) per episode);
    a full-state override is a new shared state (O(its size))."""
    if config.type is EnvironmentType.DATABASE:
        # Its state is its tables (database_view.py), held by the database environment itself.
        return database_override(config, override), None  # type: ignore[return-value]
    if config.state_params is None:
        if override is not None:
            raise ConfigError(
                f"an initial state was given for environment {config.id!r}, which has no state",
                hint="remove the override, or add state_params to the environment",
            )
        return None, None
    if isinstance(override, dict):
        return SharedState.of(override), None
    return shared_initial_state(config.state_params.initial_state), override


def _build_one(
    config: EnvironmentConfig,
    state: SharedState | dict[str, Any] | None,
    patch: list[dict[str, Any]] | None,
    model: ChatModel | None,
    base_dir: Path | None,
    cache_dir: Path | None,
    generation: GenerationParams | None,
) -> Environment:
    schema = config.state_params.state_schema if config.state_params is not None else None
    if config.type is EnvironmentType.DATABASE:
        specs = [tool_spec_from_config(t) for t in config.tools]
        plain = state.value if isinstance(state, SharedState) else state
        built = database_environment(config, specs, base_dir, plain)
        if patch:
            built._start_from(patch)
        return built
    if config.type is EnvironmentType.DETERMINISTIC:
        specs = [tool_spec_from_config(t) for t in config.tools]
        tables = {
            spec.name: DeterministicEnvironment.build_table(
                spec,
                [(row.input, row.output) for row in tool.deterministic_outputs],
                has_fallback="default_output" in tool.model_fields_set,
                fallback=tool.default_output,
            )
            for spec, tool in zip(specs, config.tools, strict=True)
        }
        environment = DeterministicEnvironment(config.id, specs, tables, state, schema)
        if patch:
            environment._start_from(patch)
        return environment
    simulated = [t for t in config.tools if not runs_as_python(t)]
    if config.type is EnvironmentType.SYNTHETIC and (simulated or not config.tools):
        if model is None:
            raise ConfigError(
                f"environment {config.id!r} is synthetic (a model plays its tools) but no model was given",
                hint="set inference_config.model (or inference_config.roles.environment)",
            )
        synthetic = SyntheticEnvironment(
            config.id,
            [tool_spec_from_config(t) for t in simulated],
            model=model,
            system_prompt=config.system_prompt,
            state=state,
            state_schema=schema,
            include_history=config.include_history,
            max_attempts=config.max_attempts,
            cache=open_tool_cache(cache_dir) if config.cache_by_input else None,
            generation=generation,
            views={t.id: t.state_view for t in simulated if t.state_view is not None},
            allow_create={t.id: t.allow_create for t in simulated if t.allow_create},
            prompt_token_budget=config.prompt_token_budget,
            python_tools=hybrid_python_tools(config, base_dir),  # tools with a handler or executor run as Python
            tool_order=[t.id for t in config.tools],
        )
        if patch:
            synthetic._start_from(patch)
        return synthetic
    # A python environment, or a synthetic one whose every tool runs as Python (no model needed).
    return PythonEnvironment(
        config.id,
        _PYTHON_TOOLS.get(config, lambda: python_tools_from_config(config, base_dir), extra=str(base_dir)),
        state,
        schema,
        initial_patch=patch,
        timeout_s=config.timeout_s,
    )

"""Building the environments oumi configs bring: `database` definitions, and synthetic definitions
whose tools name `executor:`s (all of them, or, stateless, some of them beside simulated ones)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from envsim.config.models import EnvironmentConfig, EnvironmentType
from envsim.environments.base import Environment
from envsim.environments.database import database_environment
from envsim.environments.executor_environment import ExecutorEnvironment, SplitEnvironment, executors_of
from envsim.environments.synthetic import SyntheticEnvironment
from envsim.environments.tool_cache import open_tool_cache
from envsim.errors import ConfigError
from envsim.messages import ToolSpec
from envsim.models.base import ChatModel, GenerationParams


def needs_oumi_builder(config: EnvironmentConfig) -> bool:
    return config.type is EnvironmentType.DATABASE or any(tool.executor for tool in config.tools)


def build_oumi_environment(
    config: EnvironmentConfig,
    specs: list[ToolSpec],
    state: dict[str, Any] | None,
    model: ChatModel | None,
    base_dir: Path | None,
    cache_dir: Path | None,
    generation: GenerationParams | None,
) -> Environment:
    """`specs`: the tool specs in config order."""
    if config.type is EnvironmentType.DATABASE:
        return database_environment(config, specs, base_dir, state)
    schema = config.state_params.state_schema if config.state_params is not None else None
    executors = executors_of(config, base_dir)
    if len(executors) == len(specs):
        return ExecutorEnvironment(config.id, specs, executors, state, schema)
    simulated = [spec for spec in specs if spec.name not in executors]
    if state is not None:
        raise ConfigError(
            f"stateful environment {config.id!r} mixes executor tools with simulated ones "
            f"({', '.join(s.name for s in simulated)} have no executor)",
            hint="give every tool an executor (oumi's rule for stateful environments), or none",
        )
    if model is None:
        raise ConfigError(
            f"environment {config.id!r} has simulated tools but no model was given",
            hint="set inference_config.model (or inference_config.roles.environment)",
        )
    simulator = SyntheticEnvironment(
        config.id,
        simulated,
        model=model,
        system_prompt=config.system_prompt,
        include_history=config.include_history,
        max_attempts=config.max_attempts,
        cache=open_tool_cache(cache_dir) if config.cache_by_input else None,
        generation=generation,
    )
    python = ExecutorEnvironment(config.id, [spec for spec in specs if spec.name in executors], executors)
    return SplitEnvironment(config.id, specs, [python, simulator])

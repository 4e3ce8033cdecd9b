"""Synthetic environments whose tools name oumi executors: the tools run in Python, not in a model.

oumi's contract (environments/synthetic_environment.py): a stateful environment passes each executor
`state` (a deep copy) and commits the `updated_state` it returns, after the state-schema check and only
for tools that are not read-only; a stateless one calls `executor(arguments=...)`. Here the new state
goes through envsim's state rule instead (diffed into a JSON Patch, validated, refused for read-only
tools), and an executor's exception is the assistant's tool error.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from envsim.config.models import EnvironmentConfig
from envsim.environments.base import Environment, StepContext, StepResult
from envsim.environments.executors import Executor, is_tool_result, resolve_executor
from envsim.environments.state import propose_state, to_json_value
from envsim.environments.tool_environment import Outcome, ToolEnvironment
from envsim.messages import ToolCall, ToolSpec


class ExecutorEnvironment(ToolEnvironment):
    kind = "synthetic"

    def __init__(
        self,
        id: str,
        tools: list[ToolSpec],
        executors: dict[str, Executor],
        state: dict[str, Any] | None = None,
        state_schema: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(id, tools, state, state_schema)
        self.executors = executors

    async def _run(self, tool: ToolSpec, arguments: dict[str, Any], context: StepContext) -> Outcome:
        kwargs: dict[str, Any] = {"arguments": arguments}
        if self._state is not None:
            kwargs["state"] = copy.deepcopy(self._state)
        try:
            result = self.executors[tool.name](**kwargs)
            if inspect.isawaitable(result):
                result = await result
        except Exception as exc:  # oumi's ToolError and any other failure: a tool error message
            return Outcome(error=f"{type(exc).__name__}: {exc}")
        output, updated = (result.output, result.updated_state) if is_tool_result(result) else (result, None)
        try:
            output = to_json_value(output, "the tool's output")
        except ValueError as exc:
            return Outcome(error=str(exc))
        problem = self._output_problem(tool, output)
        if problem is not None:
            return Outcome(error=problem)
        if updated is None:
            return Outcome(output=output)
        if self._state is None:
            return Outcome(error=f"tool {tool.name!r} returned updated_state, but environment {self.id!r} has no state")
        transition = propose_state(self._state, updated, self.state_schema, read_only=tool.read_only)
        if not transition.ok:
            return Outcome(error=transition.rejected)
        return Outcome(output=output, patch=transition.patch, new_state=transition.state)


def executors_of(config: EnvironmentConfig, base_dir: Path | None) -> dict[str, Executor]:
    """tool id -> executor, for the tools of `config` that name one."""
    return {
        tool.id: resolve_executor(tool.executor, tool.id, base_dir)
        for tool in config.tools
        if tool.executor is not None
    }


class SplitEnvironment(Environment):
    """One stateless environment whose tools are served by two: executor tools and simulated ones (oumi
    lets a stateless synthetic environment mix them)."""

    kind = "synthetic"

    def __init__(self, id: str, tools: list[ToolSpec], parts: Sequence[Environment]) -> None:
        super().__init__(id, tools)
        self._parts = {name: part for part in parts for name in part.tools}

    async def step(self, call: ToolCall, context: StepContext | None = None) -> StepResult:
        part = self._parts.get(call.name) or next(iter(self._parts.values()))
        return await part.step(call, context)

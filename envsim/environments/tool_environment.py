"""The step pipeline every environment kind shares.

`ToolEnvironment.step` finds the tool, checks the arguments, runs the kind-specific `_run` and commits
the state change it proposes, but only when the step succeeded, so an error never changes state.
Steps of a stateful environment are serialized: each one sees the state the previous one left.
"""

from __future__ import annotations

import abc
import asyncio
from dataclasses import dataclass, field
from typing import Any

from envsim.environments.arguments import ArgumentError, check_arguments, parse_raw_arguments, unknown_tool_message
from envsim.environments.base import Environment, ErrorKind, StepContext, StepResult
from envsim.environments.schema import schema_errors
from envsim.environments.state import Patch, State, state_hash, validate_state
from envsim.errors import ConfigError
from envsim.messages import ToolCall, ToolSpec
from envsim.models.base import Usage


@dataclass
class Outcome:
    """What a kind's `_run` produced. `new_state` is committed only when `error` is None."""

    output: Any = None
    error: str | None = None
    error_kind: ErrorKind = "tool"  # meaningful only with `error`; see StepResult.error_kind
    patch: Patch = field(default_factory=list)
    new_state: State | None = None
    cached: bool = False
    usage: Usage | None = None
    attempts: int = 1
    state_view: list[str] | None = None  # JSON Pointers a simulated tool was shown (synthetic kinds)


class ToolEnvironment(Environment):
    kind = "base"

    def __init__(
        self,
        id: str,
        tools: list[ToolSpec],
        state: State | None = None,
        state_schema: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(id, tools, state)
        self.state_schema = state_schema
        if self._state is not None:
            problems = validate_state(state_schema, self._state)
            if problems:
                raise ConfigError(
                    f"the initial state of environment {id!r} does not match its state_schema: "
                    + "; ".join(problems[:5]),
                    hint="fix the initial_state (or the override passed for this conversation)",
                )
        self._hash = state_hash(self._state) if self._state is not None else None
        self._lock = asyncio.Lock()

    @property
    def state_hash(self) -> str | None:
        return self._hash

    async def step(self, call: ToolCall, context: StepContext | None = None) -> StepResult:
        tool = self.tools.get(call.name)
        if tool is None:
            return self._result(
                call, parse_raw_arguments(call), Outcome(error=unknown_tool_message(call.name, self.tools))
            )
        try:
            checked = check_arguments(call, tool)
        except ArgumentError as exc:
            return self._result(call, parse_raw_arguments(call), Outcome(error=str(exc)))
        context = context or StepContext()
        if self._state is None:
            outcome = await self._run(tool, checked.arguments, context)
        else:
            async with self._lock:
                outcome = await self._run(tool, checked.arguments, context)
                if outcome.error is None and outcome.new_state is not None and outcome.patch:
                    self._state = outcome.new_state
                    self._hash = state_hash(self._state)
        if outcome.error is not None:
            outcome.patch = []
        return self._result(call, checked.arguments, outcome)

    @abc.abstractmethod
    async def _run(self, tool: ToolSpec, arguments: dict[str, Any], context: StepContext) -> Outcome:
        """Run one validated call. Must not mutate `self._state`; propose `new_state` + `patch` instead."""

    def _output_problem(self, tool: ToolSpec, output: Any) -> str | None:
        """Why `output` breaks the tool's output_schema, or None."""
        if tool.output_schema is None:
            return None
        problems = schema_errors(tool.output_schema, output)
        if not problems:
            return None
        return "the output does not match the tool's output_schema: " + "; ".join(problems[:5])

    def _result(self, call: ToolCall, arguments: Any, outcome: Outcome) -> StepResult:
        return StepResult(
            environment=self.id,
            tool=call.name,
            call_id=call.id,
            arguments=arguments,
            output=None if outcome.error is not None else outcome.output,
            error=outcome.error,
            error_kind=outcome.error_kind if outcome.error is not None else None,
            patch=outcome.patch,
            state_hash=self._hash,
            cached=outcome.cached,
            usage=outcome.usage,
            attempts=outcome.attempts,
            state_view=outcome.state_view,
        )

"""The step pipeline every environment kind shares.

`ToolEnvironment.step` finds the tool, checks the arguments, runs the kind-specific `_run` and commits
the state change it proposes, but only when the step succeeded, so an error never changes state.
Steps of a stateful environment are serialized: each one sees the state the previous one left.

The state lives in a `StateStore`: an overlay over a `SharedState` (the catalog's initial state, loaded,
hashed and validated once per process), so building an instance is O(1) in the state's size and a step
costs what it changes (docs/state.md). `self._state` is the committed root (a read-only dict).
"""

from __future__ import annotations

import abc
import asyncio
from dataclasses import dataclass, field
from typing import Any

from envsim.environments.arguments import ArgumentError, check_arguments, parse_raw_arguments, unknown_tool_message
from envsim.environments.base import Environment, ErrorKind, StepContext, StepResult
from envsim.environments.json_patch import PatchError, apply_in_place
from envsim.environments.schema import schema_errors
from envsim.environments.state import Patch, State
from envsim.environments.state_origin import StateOrigin
from envsim.environments.state_store import StateStore, Transition
from envsim.environments.state_tree import SharedState
from envsim.errors import ConfigError
from envsim.messages import ToolCall, ToolSpec
from envsim.models.base import Usage


@dataclass
class Outcome:
    """What a kind's `_run` produced. `patch` is committed (to the state store) only when `error` is None;
    `new_state` is the proposed state, kept for kinds that inspect it."""

    output: Any = None
    error: str | None = None
    error_kind: ErrorKind = "tool"  # meaningful only with `error`; see StepResult.error_kind
    patch: Patch = field(default_factory=list)
    new_state: State | None = None
    cached: bool = False
    usage: Usage | None = None
    attempts: int = 1
    state_view: list[str] | None = None  # JSON Pointers a simulated tool was shown (synthetic kinds)
    # The accepted transition behind `patch`, when the kind has one: committing it skips re-applying.
    transition: Transition | None = None


class ToolEnvironment(Environment):
    kind = "base"

    def __init__(
        self,
        id: str,
        tools: list[ToolSpec],
        state: State | SharedState | None = None,
        state_schema: dict[str, Any] | None = None,
        *,
        initial_patch: Patch | None = None,
    ) -> None:
        """`state`: a plain dict (copied) or a SharedState (shared, O(1)); `initial_patch`: a JSON Patch
        over it that starts this instance (an initial-state override), checked like any change."""
        super().__init__(id, tools, None)
        self.state_schema = state_schema
        self._store: StateStore | None = None
        self._origin: StateOrigin | None = None
        if state is not None:
            shared = state if isinstance(state, SharedState) else SharedState.of(state)
            if not isinstance(shared.value, dict):
                raise ConfigError(f"the initial state of environment {id!r} must be a JSON object")
            self._store = StateStore(shared, state_schema)
            problems = self._store.initial_errors()
            if problems:
                raise ConfigError(
                    f"the initial state of environment {id!r} does not match its state_schema: "
                    + "; ".join(problems[:5]),
                    hint="fix the initial_state (or the override passed for this conversation)",
                )
            self._state = self._store.root
            self._origin = StateOrigin(shared)
        self._hash = self._store.hash if self._store is not None else None
        self._lock = asyncio.Lock()
        if initial_patch:
            self._start_from(initial_patch)

    def _start_from(self, patch: Patch) -> None:
        assert self._store is not None
        try:
            apply_in_place(self._store.view(read_only=False), patch)  # a dry run, for the error message
        except PatchError as exc:
            raise ConfigError(
                f"the initial-state patch for environment {self.id!r} does not apply to its catalog state: "
                f"{exc.message}"
            ) from exc
        transition = self._store.propose_patch(patch, read_only=False)
        if not transition.ok:
            problems = (transition.rejected or "").removeprefix("the new state would not match the state schema: ")
            raise ConfigError(
                f"the initial state of environment {self.id!r} does not match its state_schema: {problems}",
                hint="fix the initial_state (or the override passed for this conversation)",
            )
        self._store.commit(transition)
        self._state = self._store.root
        self._hash = self._store.hash
        # add/remove/replace only, as StateTree applies them (the override itself may move or copy)
        self._origin = StateOrigin.of(self._store.shared, getattr(transition, "normalized", transition.patch))

    @property
    def state(self) -> dict[str, Any] | None:
        """The current state as plain JSON (a fresh copy, O(state): not for the per-step hot path)."""
        return self._store.materialize() if self._store is not None else None

    @property
    def state_origin(self) -> StateOrigin | None:
        return self._origin

    @property
    def committed_state(self) -> dict[str, Any] | None:
        """The committed state itself (an overlay over the shared base, O(1)); read-only."""
        return self._store.root if self._store is not None else None

    @property
    def state_store(self) -> StateStore | None:
        return self._store

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
                if outcome.error is None and outcome.patch:
                    self._commit(outcome)
        if outcome.error is not None:
            outcome.patch = []
        return self._result(call, checked.arguments, outcome)

    def _commit(self, outcome: Outcome) -> None:
        assert self._store is not None
        self._store.commit(outcome.transition if outcome.transition is not None else outcome.patch)
        self._state = self._store.root
        self._hash = self._store.hash

    @abc.abstractmethod
    async def _run(self, tool: ToolSpec, arguments: dict[str, Any], context: StepContext) -> Outcome:
        """Run one validated call. Must not mutate `self._state`; propose a `patch` (checked with
        `propose_patch` / the state store) instead."""

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

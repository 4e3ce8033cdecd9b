"""Small environments and an environment set for simulation tests (no models, no files)."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Iterable
from typing import Any

import jsonpatch

from envsim.canonical import stable_hash
from envsim.environments.base import Environment, StepContext, StepResult
from envsim.environments.state_origin import StateOrigin
from envsim.messages import ToolCall, ToolSpec

ADD = ToolSpec(
    name="add",
    description="Add an amount to the counter.",
    parameters={"type": "object", "properties": {"amount": {"type": "integer"}}, "required": ["amount"]},
)
GET = ToolSpec(name="get_count", description="Read the counter.", read_only=True)
ECHO = ToolSpec(name="echo", description="Echo text back.", parameters={"type": "object", "properties": {}})
BOOM = ToolSpec(name="boom", description="Raises.")


class CounterEnv(Environment):
    """Stateful: `add` appends to a log and bumps the count, so call order shows up in the state."""

    kind = "python"

    def __init__(self, id: str = "counter", state: dict[str, Any] | None = None, delay: float = 0.0) -> None:
        super().__init__(id, [ADD, GET], state if state is not None else {"count": 0, "log": []})
        self.delay = delay

    async def step(self, call: ToolCall, context: StepContext | None = None) -> StepResult:
        base = {"environment": self.id, "tool": call.name, "call_id": call.id}
        try:
            args = call.parsed_arguments()
        except ValueError as exc:
            return StepResult(**base, arguments=call.function.arguments, error=str(exc))
        if self.delay:
            await asyncio.sleep(self.delay)
        assert self._state is not None
        if call.name == "get_count":
            return StepResult(
                **base, arguments=args, output={"count": self._state["count"]}, state_hash=stable_hash(self._state)
            )
        if "amount" not in args:
            return StepResult(
                **base, arguments=args, error="missing required argument 'amount'", state_hash=stable_hash(self._state)
            )
        before = copy.deepcopy(self._state)
        self._state["count"] += args["amount"]
        self._state["log"].append(args["amount"])
        patch = jsonpatch.make_patch(before, self._state).patch
        return StepResult(
            **base,
            arguments=args,
            output={"count": self._state["count"]},
            patch=patch,
            state_hash=stable_hash(self._state),
        )


class EchoEnv(Environment):
    """Stateless: `echo` returns its arguments after `delay` seconds; `boom` raises."""

    kind = "python"

    def __init__(self, id: str = "echo", delay: float = 0.0) -> None:
        super().__init__(id, [ECHO, BOOM])
        self.delay = delay
        self.in_flight = 0
        self.max_in_flight = 0

    async def step(self, call: ToolCall, context: StepContext | None = None) -> StepResult:
        if call.name == "boom":
            raise RuntimeError("backend exploded")
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
        finally:
            self.in_flight -= 1
        args = call.parsed_arguments()
        return StepResult(environment=self.id, tool=call.name, call_id=call.id, arguments=args, output=args)


class FakeEnvironmentSet:
    """The surface of `EnvironmentSet` the simulation uses."""

    def __init__(self, envs: Iterable[Environment]) -> None:
        self.envs = {env.id: env for env in envs}
        self._by_tool = {name: env for env in self.envs.values() for name in env.tools}

    def environment_of(self, tool_name: str) -> Environment | None:
        return self._by_tool.get(tool_name)

    def tool_specs(self, tools: list[str] | None = None) -> list[ToolSpec]:
        specs = [spec for env in self.envs.values() for spec in env.tool_specs()]
        return [s for s in specs if not tools or s.name in tools]

    async def step(self, call: ToolCall, context: StepContext) -> StepResult:
        env = self._by_tool.get(call.name)
        if env is None:
            return StepResult(environment="", tool=call.name, call_id=call.id, error=f"unknown tool {call.name!r}")
        return await env.step(call, context)

    def initial_states(self) -> dict[str, Any]:
        return {
            env_id: env.state_origin.initial() if env.state_origin is not None else env.state
            for env_id, env in self.envs.items()
            if env.stateful
        }

    def committed_states(self) -> dict[str, Any]:
        return {env_id: env.committed_state for env_id, env in self.envs.items() if env.stateful}

    def state_origins(self) -> dict[str, StateOrigin]:
        return {env_id: env.state_origin for env_id, env in self.envs.items() if env.state_origin is not None}


class StaticAttributes:
    """Attributes given as plain values; `{name}` placeholders render from them."""

    def __init__(self, values: dict[str, Any]) -> None:
        self._values = dict(values)

    @property
    def values(self) -> dict[str, Any]:
        return dict(self._values)

    def render(self, template: str) -> str:
        return template.format_map(self._values)


async def attributes_from_spec(spec: Any) -> StaticAttributes:
    return StaticAttributes(dict(spec.attributes or {"customer": f"customer {spec.sample_index}"}))

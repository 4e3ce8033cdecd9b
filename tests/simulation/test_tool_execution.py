from __future__ import annotations

import asyncio
import json
import time

import pytest

from envsim.environments.base import StepContext
from envsim.errors import CircuitOpenError
from envsim.messages import ToolCall
from envsim.simulation.tool_execution import EnvironmentStepError, execute_tool_calls

from .fakes import CounterEnv, EchoEnv, FakeEnvironmentSet


def call(name: str, args: dict | str, id: str) -> ToolCall:
    return ToolCall.make(name, args, id=id)


async def test_each_call_becomes_a_tool_message_and_a_step_in_call_order() -> None:
    envs = FakeEnvironmentSet([CounterEnv(), EchoEnv(delay=0.02)])
    calls = [call("echo", {"x": 1}, "c1"), call("add", {"amount": 2}, "c2"), call("echo", {"x": 3}, "c3")]
    messages, steps = await execute_tool_calls(envs, calls, turn=2, round=1, context=StepContext(episode_id="e"))
    assert [m.tool_call_id for m in messages] == ["c1", "c2", "c3"]
    assert all(m.role == "tool" for m in messages)
    assert json.loads(messages[1].content or "") == {"count": 2}
    assert [(s.call_id, s.turn, s.round) for s in steps] == [("c1", 2, 1), ("c2", 2, 1), ("c3", 2, 1)]
    assert steps[1].patch and steps[1].state_hash
    assert steps[0].latency_s >= 0.015


async def test_same_stateful_environment_runs_sequentially_in_call_order() -> None:
    counter = CounterEnv(delay=0.01)
    envs = FakeEnvironmentSet([counter])
    calls = [call("add", {"amount": n}, f"c{n}") for n in (5, 1, 3)]
    _, steps = await execute_tool_calls(envs, calls, turn=1, round=1, context=StepContext())
    assert counter.state == {"count": 9, "log": [5, 1, 3]}
    assert [s.output["count"] for s in steps] == [5, 6, 9]


async def test_stateless_calls_run_concurrently() -> None:
    echo = EchoEnv(delay=0.2)
    envs = FakeEnvironmentSet([echo])
    calls = [call("echo", {"i": i}, f"c{i}") for i in range(5)]
    started = time.perf_counter()
    await execute_tool_calls(envs, calls, turn=1, round=1, context=StepContext())
    assert time.perf_counter() - started < 0.6
    assert echo.max_in_flight == 5


async def test_errors_come_back_as_tool_messages() -> None:
    envs = FakeEnvironmentSet([CounterEnv()])
    calls = [call("nope", {}, "c1"), call("add", "{not json", "c2"), call("add", {}, "c3")]
    messages, steps = await execute_tool_calls(envs, calls, turn=1, round=1, context=StepContext())
    errors = [json.loads(m.content or "")["error"] for m in messages]
    assert "unknown tool" in errors[0]
    assert "not valid JSON" in errors[1]
    assert "amount" in errors[2]
    assert all(s.error for s in steps)


async def test_an_environment_that_raises_stops_the_episode_with_a_clear_error() -> None:
    envs = FakeEnvironmentSet([EchoEnv(), CounterEnv()])
    with pytest.raises(EnvironmentStepError) as info:
        await execute_tool_calls(
            envs, [call("add", {"amount": 1}, "c0"), call("boom", {}, "c1")], turn=1, round=1, context=StepContext()
        )
    assert info.value.environment == "echo" and "backend exploded" in str(info.value)


async def test_run_stopping_errors_propagate_unwrapped() -> None:
    class Circuit(EchoEnv):
        async def step(self, call, context=None):  # type: ignore[no-untyped-def]
            raise CircuitOpenError("endpoint down")

    envs = FakeEnvironmentSet([Circuit(), CounterEnv(delay=0.05)])
    with pytest.raises(CircuitOpenError):
        await execute_tool_calls(
            envs, [call("add", {"amount": 1}, "a"), call("echo", {}, "b")], turn=1, round=1, context=StepContext()
        )


async def test_cancellation_propagates() -> None:
    envs = FakeEnvironmentSet([EchoEnv(delay=5)])
    task = asyncio.create_task(
        execute_tool_calls(envs, [call("echo", {}, "a"), call("echo", {}, "b")], turn=1, round=1, context=StepContext())
    )
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

"""How python tools run: on worker threads, under a timeout, over views; episodes share the base state."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

from envsim.config.models import EnvironmentConfig
from envsim.environments import EnvironmentSet
from envsim.environments.state import state_hash
from envsim.messages import ToolCall

DATA = Path(__file__).parent / "data"
SCHEMA = {
    "type": "object",
    "required": ["counter"],
    "properties": {"counter": {"type": "object", "properties": {"n": {"type": "integer", "maximum": 10}}}},
}


def counter(**extra: Any) -> EnvironmentConfig:
    tools = [
        {"id": "sleep_forever", "handler": "slow_tools.py:sleep_forever", "timeout_s": 0.3},
        {"id": "sleep_forever_async", "handler": "slow_tools.py:sleep_forever_async"},
        {"id": "which_thread", "handler": "slow_tools.py:which_thread"},
        {"id": "block_briefly", "handler": "slow_tools.py:block_briefly"},
        {"id": "bump", "handler": "slow_tools.py:bump"},
        {"id": "peek", "handler": "slow_tools.py:peek", "read_only": True},
    ]
    return EnvironmentConfig.model_validate(
        {
            "id": "counter",
            "type": "python",
            "tools": tools,
            "timeout_s": 0.3,
            "state_params": {"state_schema": SCHEMA, "initial_state": {"counter": {"n": 0}}},
        }
        | extra
    )


async def call(envs: EnvironmentSet, name: str, args: dict[str, Any] | None = None) -> Any:
    return await envs.step(ToolCall.make(name, args or {}, id="c1"))


async def test_a_tool_that_sleeps_for_an_hour_times_out_and_changes_nothing() -> None:
    envs = EnvironmentSet.build([counter()], base_dir=DATA)
    started = time.monotonic()
    for name in ("sleep_forever", "sleep_forever_async"):
        result = await call(envs, name)
        assert result.error_kind == "infrastructure" and "timed out" in (result.error or "")
        assert result.patch == [] and envs.states()["counter"] == {"counter": {"n": 0}}
    assert time.monotonic() - started < 30  # two 0.3 s timeouts, with room for a loaded machine
    after = await call(envs, "bump")  # the environment keeps working after an abandoned call
    assert after.output == 1 and envs.states()["counter"] == {"counter": {"n": 1}}


async def test_sync_tools_run_off_the_event_loop() -> None:
    envs = EnvironmentSet.build([counter()], base_dir=DATA)
    thread = await call(envs, "which_thread")
    assert thread.output != threading.current_thread().name
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    blocked = await call(envs, "block_briefly", {"seconds": 0.25})
    task.cancel()
    assert blocked.output == "done"
    assert ticks >= 5  # the loop kept running while the tool slept (25 ticks if the machine were idle)


async def test_per_tool_timeout_overrides_the_environment() -> None:
    config = counter(timeout_s=5)
    config.tools[3].timeout_s = 0.05
    envs = EnvironmentSet.build([config], base_dir=DATA)
    result = await call(envs, "block_briefly", {"seconds": 1})
    assert result.error_kind == "infrastructure" and "0.05 s" in (result.error or "")


async def test_episodes_share_the_catalog_state_and_never_see_each_others_changes() -> None:
    config = counter()
    first = EnvironmentSet.build([config], base_dir=DATA)
    second = EnvironmentSet.build([config], base_dir=DATA)
    store_1 = first.environments["counter"].state_store  # type: ignore[attr-defined]
    store_2 = second.environments["counter"].state_store  # type: ignore[attr-defined]
    assert store_1.shared is store_2.shared  # loaded, hashed and validated once per process
    assert (await call(first, "bump")).output == 1
    assert first.states()["counter"] == {"counter": {"n": 1}}
    assert second.states()["counter"] == {"counter": {"n": 0}}
    assert store_1.shared.value == {"counter": {"n": 0}}
    assert (await call(second, "peek")).output == 0
    assert first.environments["counter"].state_hash == state_hash({"counter": {"n": 1}})  # type: ignore[attr-defined]


async def test_the_state_rule_holds_through_views() -> None:
    envs = EnvironmentSet.build([counter()], base_dir=DATA)
    for _ in range(10):
        assert (await call(envs, "bump")).ok
    too_many = await call(envs, "bump")
    assert not too_many.ok and "11 is greater than the maximum of 10" in (too_many.error or "")
    assert envs.states()["counter"] == {"counter": {"n": 10}}


def test_validation_fallbacks_are_reported_per_environment() -> None:
    recursive = {"$defs": {"n": {"additionalProperties": {"$ref": "#/$defs/n"}}}, "$ref": "#/$defs/n"}
    plain = counter()
    tree = counter(id="tree", tools=[{"id": "peek_tree", "handler": "slow_tools.py:peek", "read_only": True}])
    tree.state_params.state_schema = recursive  # type: ignore[union-attr]
    envs = EnvironmentSet.build([plain, tree], base_dir=DATA)
    assert envs.validation_fallbacks() == {"tree": "the state schema has a $ref cycle (a recursive schema)"}

"""Property tests of the state rule over random call sequences.

For a python environment and for a stateful synthetic one driven by a model that proposes random
(often invalid) patches: the state always validates, read-only tools never change it, failed steps
never change it, and initial state + all recorded patches == final state (and its recorded hash).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from envsim.config.models import EnvironmentConfig
from envsim.environments import EnvironmentSet, StepResult, apply_patch, state_hash, validate_state
from envsim.messages import ToolCall
from envsim.models.base import ModelRequest
from envsim.testing import FunctionModel

DATA = Path(__file__).parent / "data"
SKUS = ["apple", "pear", "kiwi"]


async def check_run(envs: EnvironmentSet, env_id: str, schema: dict[str, Any], calls: list[ToolCall]) -> None:
    env = envs.environments[env_id]
    initial = env.state
    results: list[StepResult] = []
    for call in calls:
        before = env.state
        result = await envs.step(call)
        results.append(result)
        after = env.state
        assert validate_state(schema, after) == []
        if result.error is not None or env.tools[call.name].read_only:
            assert after == before and result.patch == []
        assert apply_patch(before, result.patch) == after
        assert result.state_hash == state_hash(after)
    final = initial
    for result in results:
        final = apply_patch(final, result.patch)
    assert final == env.state


# --------------------------------------------------------------------------- python environment

STOCK_SCHEMA = {
    "type": "object",
    "required": ["stock", "log"],
    "properties": {
        "stock": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}},
        "log": {"type": "array", "items": {"type": "string"}},
    },
}

sku = st.sampled_from(SKUS)
python_call = st.one_of(
    st.builds(lambda s: ("get_stock", {"sku": s}), sku),
    st.builds(lambda s, q: ("remove_stock", {"sku": s, "qty": q}), sku, st.integers(-2, 4)),
    st.builds(lambda s, q: ("restock", {"order": {"sku": s, "qty": q}}), sku, st.integers(-1, 3)),
    st.builds(lambda m: ("reset", {"mode": m}), st.sampled_from(["empty", "keep", "bogus"])),
    st.just(("sneaky_peek", {})),
    st.builds(lambda s: ("remove_stock", {"sku": s, "qty": "many"}), sku),  # schema violation
    st.just(("get_stock", "{not json")),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(python_call, max_size=12))
def test_python_environment_keeps_the_state_rule(steps: list[tuple[str, Any]]) -> None:
    config = EnvironmentConfig.model_validate(
        {
            "id": "inventory",
            "type": "python",
            "module": "inventory_tools.py",
            "state_params": {"state_schema": STOCK_SCHEMA, "initial_state": {"stock": {"apple": 2}, "log": []}},
        }
    )
    envs = EnvironmentSet.build([config], base_dir=DATA)
    calls = [ToolCall.make(name, args, id=f"c{i}") for i, (name, args) in enumerate(steps)]
    asyncio.run(check_run(envs, "inventory", STOCK_SCHEMA, calls))


# --------------------------------------------------------------------------- stateful synthetic environment

ITEMS_SCHEMA = {
    "type": "object",
    "required": ["items", "version"],
    "additionalProperties": False,
    "properties": {
        "items": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}},
        "version": {"type": "integer"},
    },
}
key = st.sampled_from(["a", "b", "c"])
operation = st.one_of(
    st.builds(lambda k, v: {"op": "add", "path": f"/items/{k}", "value": v}, key, st.integers(-1, 3)),
    st.builds(lambda k: {"op": "remove", "path": f"/items/{k}"}, key),
    st.builds(lambda v: {"op": "replace", "path": "/version", "value": v}, st.one_of(st.integers(0, 9), st.text())),
    st.builds(lambda k, v: {"op": "test", "path": f"/items/{k}", "value": v}, key, st.integers(0, 3)),
    st.builds(lambda a, b: {"op": "move", "from": f"/items/{a}", "path": f"/items/{b}"}, key, key),
    st.sampled_from(
        [
            {"op": "add", "path": "/extra", "value": True},  # schema violation (additionalProperties)
            {"op": "teleport", "path": "/items"},  # not an operation
            {"op": "replace", "path": "", "value": []},  # the state must stay an object
        ]
    ),
)
valid_add = st.builds(lambda k, v: [{"op": "add", "path": f"/items/{k}", "value": v}], key, st.integers(0, 3))
model_reply = st.one_of(
    st.builds(lambda ops: json.dumps({"output": "ok", "patch": ops}), valid_add),
    st.builds(lambda ops: json.dumps({"output": "done", "patch": ops}), st.lists(operation, max_size=3)),
    st.sampled_from(["I cannot comply.", '{"output": 1, "extra": 2}']),  # not JSON / wrong shape
)
synthetic_call = st.tuples(st.sampled_from(["write", "read"]), st.integers(0, 5))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(synthetic_call, max_size=10), st.lists(model_reply, min_size=1, max_size=30))
def test_synthetic_environment_keeps_the_state_rule(steps: list[tuple[str, int]], replies: list[str]) -> None:
    served = iter(replies * 40)  # enough for every attempt of every step

    def backend(request: ModelRequest) -> str:
        return next(served)

    config = EnvironmentConfig.model_validate(
        {
            "id": "store",
            "type": "synthetic",
            "max_attempts": 2,
            "state_params": {"state_schema": ITEMS_SCHEMA, "initial_state": {"items": {"a": 1}, "version": 0}},
            "tools": [{"id": "write"}, {"id": "read", "read_only": True}],
        }
    )
    envs = EnvironmentSet.build([config], model=FunctionModel(backend))
    calls = [ToolCall.make(name, {"n": n}, id=f"c{i}") for i, (name, n) in enumerate(steps)]
    asyncio.run(check_run(envs, "store", ITEMS_SCHEMA, calls))

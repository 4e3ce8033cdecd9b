"""tau2's 114 retail tasks through envsim itself: each task's gold actions are replayed (a) through
`EnvironmentSet.step()` of the shipped tau2_retail catalog and (b) again by applying the recorded
patches to the initial state; both must give the database tau2-bench's own code gives (tau2's
`get_db_hash()`, fingerprinted by generate_fingerprints.py), with tau2's outputs and errors.

Fresh episode environments per task, as a conversation has them, and checks that cost what a task
changes, not what the database weighs: the final state is the environment's committed overlay (not a
materialized copy), tau2's hash re-serializes only the records that differ from the shared base (the
same objects are not even compared), and the recorded patches are applied by the jsonpatch library to
a copy of only the containers they touch. That these shortcuts are sound rests on the shared base never
changing, which the `base` fixture checks exactly when the module is done. So all 114 tasks run in
the default suite in a few seconds (benchmarks/bench_gold_replay.py times the same replays and checks).
Every tool on every task is also checked against tau2 by calling the tools directly
(test_tau2_retail_tools.py).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from tau2_retail_data import (
    CATALOG,
    FINGERPRINTS,
    TaskPrint,
    db_module,
    fingerprints,
    gold_actions,
    replay_problems,
    requires_tau2_data,
    same_json,
    state_store,
    tasks,
)

from envsim.config.loader import load_environment_catalog
from envsim.config.models import EnvironmentCatalog
from envsim.environments.base import StepContext, StepResult
from envsim.environments.catalog import EnvironmentSet
from envsim.messages import ToolCall

pytestmark = requires_tau2_data

# From the committed fingerprints, so the tests are collected (and skipped) without the shared data.
ALL_TASKS = [t["task"] for t in json.loads(FINGERPRINTS.read_text(encoding="utf-8"))["tasks"]]
# Together these use every write tool: 40 pays with another method; 78 cancels, re-addresses and
# modifies; 100 modifies two items (last-item quirk, unrounded difference) and returns; 102 exchanges;
# 109 changes the user's address.
COVERING_TASKS = ["40", "78", "100", "102", "109"]
WRITE_TOOLS = {
    "cancel_pending_order",
    "exchange_delivered_order_items",
    "modify_pending_order_address",
    "modify_pending_order_items",
    "modify_pending_order_payment",
    "modify_user_address",
    "return_delivered_order_items",
}


@pytest.fixture(scope="module")
def catalog() -> EnvironmentCatalog:
    return load_environment_catalog(CATALOG)


@pytest.fixture(scope="module")
def base(catalog: EnvironmentCatalog) -> Iterator[dict[str, Any]]:
    """The shared initial state every episode environment is an overlay over (the engine's own base)."""
    store = state_store(_build(catalog))
    before = json.dumps(store.shared.value, sort_keys=True)
    yield store.shared.value
    # The identity shortcuts of the checks (and every episode's isolation) need the base unchanged.
    assert json.dumps(store.shared.value, sort_keys=True) == before, "the replays changed the shared base state"


@pytest.fixture(scope="module")
def hasher(base: dict[str, Any]) -> Any:
    return db_module().DbHasher(base)


def _build(catalog: EnvironmentCatalog) -> EnvironmentSet:
    return EnvironmentSet.build(catalog.environments, base_dir=CATALOG.parent)


async def _replay(catalog: EnvironmentCatalog, task_id: str) -> tuple[list[StepResult], EnvironmentSet]:
    envs = _build(catalog)  # fresh episode environments, as a conversation has them
    results = []
    for action in gold_actions(task_id):
        call = ToolCall.make(action["name"], action["arguments"], id=action["action_id"])
        results.append(await envs.step(call, StepContext(episode_id=task_id)))
    return results, envs


def _final(envs: EnvironmentSet) -> dict[str, Any]:
    """The committed state after the replay, as the environment holds it (no copy)."""
    return state_store(envs).root


def _check_task(catalog: EnvironmentCatalog, base: dict[str, Any], hasher: Any, expected: TaskPrint) -> EnvironmentSet:
    results, envs = asyncio.run(_replay(catalog, expected.task))
    problems = replay_problems(results, _final(envs), base, hasher, expected)
    assert not problems, "\n".join(problems)
    return envs


def test_the_catalog_state_is_tau2s_database(catalog: EnvironmentCatalog, base: dict[str, Any], hasher: Any) -> None:
    params = catalog.environments[0].state_params
    assert params is not None
    assert same_json(base, params.initial_state)
    document_hash = db_module().db_hash(base)
    assert hasher.hash(base) == document_hash
    assert document_hash == json.loads(FINGERPRINTS.read_text(encoding="utf-8"))["initial_db_hash"]


def test_covering_tasks_use_every_write_tool() -> None:
    used = {a["name"] for task_id in COVERING_TASKS for a in gold_actions(task_id)}
    assert used >= WRITE_TOOLS


@pytest.mark.parametrize("task_id", COVERING_TASKS)
def test_gold_replay_of_a_covering_task(
    catalog: EnvironmentCatalog, base: dict[str, Any], hasher: Any, task_id: str
) -> None:
    envs = _check_task(catalog, base, hasher, fingerprints()[task_id])
    # The public, materialized final state (a plain copy) is the same database, by tau2's full hash too.
    final = envs.states()["tau2_retail"]
    assert same_json(final, _final(envs))
    assert db_module().db_hash(final) == fingerprints()[task_id].db_hash


def test_the_checks_catch_a_wrong_database(catalog: EnvironmentCatalog, base: dict[str, Any], hasher: Any) -> None:
    """The shortcuts of the checks still see a change anywhere: one differing field, one bad patch."""
    expected = fingerprints()["100"]
    results, envs = asyncio.run(_replay(catalog, expected.task))
    final = _final(envs)
    assert replay_problems(results, final, base, hasher, expected) == []
    order_id = next(op["path"].split("/")[2] for r in results for op in r.patch)
    wrong_order = {**final["orders"][order_id], "status": "delivered"}
    wrong = {**final, "orders": {**final["orders"], order_id: wrong_order}}
    assert replay_problems(results, wrong, base, hasher, expected) == [
        "task 100: the database differs from tau2's",
        "task 100: initial state + recorded patches != final state",
    ]
    untouched = next(uid for uid in base["users"] if uid != final["orders"][order_id]["user_id"])
    extra = {"op": "replace", "path": f"/users/{untouched}/email", "value": "someone@else.example"}
    bad = [*results[:-1], results[-1].model_copy(update={"patch": [*results[-1].patch, extra]})]
    assert replay_problems(bad, final, base, hasher, expected) == [
        "task 100: initial state + recorded patches != final state"
    ]
    assert base["users"][untouched]["email"] != "someone@else.example"  # the check copied, never mutated


def test_fingerprints_cover_every_task() -> None:
    assert sorted(ALL_TASKS) == sorted(tasks()) and len(ALL_TASKS) == 114


@pytest.mark.parametrize("task_id", ALL_TASKS)
def test_gold_replay_of_every_task(
    catalog: EnvironmentCatalog, base: dict[str, Any], hasher: Any, task_id: str
) -> None:
    _check_task(catalog, base, hasher, fingerprints()[task_id])

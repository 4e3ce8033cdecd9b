"""tau2's 114 retail tasks through envsim itself: each task's gold actions are replayed (a) through
`EnvironmentSet.step()` of the shipped tau2_retail catalog and (b) again by applying the recorded
patches to the initial state; both must give the database tau2-bench's own code gives (tau2's
`get_db_hash()`, fingerprinted by generate_fingerprints.py), with tau2's outputs and errors.

One environment build per task and no copies in the test itself, so the cost is the engine's: with
steps costing what they change (docs/state.md), all 114 tasks replay in the default suite in well under
a minute. Every tool on every task is also checked against tau2 by calling the tools directly
(test_tau2_retail_tools.py).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from tau2_retail_data import (
    CATALOG,
    FINGERPRINTS,
    TaskPrint,
    db_module,
    fingerprints,
    gold_actions,
    output_digest,
    requires_tau2_data,
    tasks,
)

from envsim.config.loader import load_environment_catalog
from envsim.config.models import EnvironmentCatalog
from envsim.environments.base import StepContext, StepResult
from envsim.environments.catalog import EnvironmentSet
from envsim.environments.state import apply_patch
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
def initial(catalog: EnvironmentCatalog) -> dict[str, Any]:
    params = catalog.environments[0].state_params
    assert params is not None
    return params.initial_state


@pytest.fixture(scope="module")
def hasher(initial: dict[str, Any]) -> Any:
    return db_module().DbHasher(initial)


async def _replay(catalog: EnvironmentCatalog, task_id: str) -> tuple[list[StepResult], dict[str, Any]]:
    envs = EnvironmentSet.build(catalog.environments, base_dir=CATALOG.parent)
    results = []
    for action in gold_actions(task_id):
        call = ToolCall.make(action["name"], action["arguments"], id=action["action_id"])
        results.append(await envs.step(call, StepContext(episode_id=task_id)))
    return results, envs.states()["tau2_retail"]


def _check_task(catalog: EnvironmentCatalog, initial: dict[str, Any], hasher: Any, expected: TaskPrint) -> None:
    results, final = asyncio.run(_replay(catalog, expected.task))
    content = db_module().message_content
    for result, want in zip(results, expected.actions, strict=True):
        if want.error is not None:
            assert (result.error, result.patch) == (f"ValueError: {want.error}", []), want.id
        else:
            assert result.error is None, f"{want.id}: {result.error}"
            assert output_digest(content(result.output)) == want.output, f"{want.id}: output differs from tau2's"
    assert hasher.hash(final) == expected.db_hash, f"task {expected.task}: the database differs from tau2's"
    patches = [operation for result in results for operation in result.patch]
    assert apply_patch(initial, patches) == final, f"task {expected.task}: initial state + patches != final state"


def test_the_catalog_state_is_tau2s_database(hasher: Any, initial: dict[str, Any]) -> None:
    document_hash = db_module().db_hash(initial)
    assert hasher.hash(initial) == document_hash
    assert document_hash == json.loads(FINGERPRINTS.read_text(encoding="utf-8"))["initial_db_hash"]


def test_covering_tasks_use_every_write_tool() -> None:
    used = {a["name"] for task_id in COVERING_TASKS for a in gold_actions(task_id)}
    assert used >= WRITE_TOOLS


@pytest.mark.parametrize("task_id", COVERING_TASKS)
def test_gold_replay_of_a_covering_task(
    catalog: EnvironmentCatalog, initial: dict[str, Any], hasher: Any, task_id: str
) -> None:
    _check_task(catalog, initial, hasher, fingerprints()[task_id])


def test_fingerprints_cover_every_task() -> None:
    assert sorted(ALL_TASKS) == sorted(tasks()) and len(ALL_TASKS) == 114


@pytest.mark.parametrize("task_id", ALL_TASKS)
def test_gold_replay_of_every_task(
    catalog: EnvironmentCatalog, initial: dict[str, Any], hasher: Any, task_id: str
) -> None:
    _check_task(catalog, initial, hasher, fingerprints()[task_id])

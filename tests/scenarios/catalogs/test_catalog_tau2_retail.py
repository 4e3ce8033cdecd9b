"""The retail environment against real third-party data: tau2-bench's retail database (500 users,
1,000 orders, 50 products) as the initial state, and its tasks' gold tool calls replayed through the
real EnvironmentSet. Skipped when the data is not on this machine (it is never copied into the repo).

Argument mapping: tau2's address tools call the address's state `state`; envsim passes the environment
state to python tools as `state`, so the retail tools name that argument `state_code` (same meaning).

Gold actions that fail, on purpose or by tau2's own rules (the same checks raise in tau2's tools):
- the user gives wrong details first (unknown email, name/zip, order id, product id): "not found";
- 64_6 tries to exchange a pending order before the correct modify_pending_order_items (64_7);
- 106_0 exchanges two tea kettles for $21.10 more with a gift card holding $17.00: tau2's own rule
  (a gift card must cover the price difference) rejects it too.
"""

from __future__ import annotations

import asyncio
import copy
import json
from pathlib import Path
from typing import Any

import pytest

from envsim.config.loader import load_environment_catalog
from envsim.environments.base import StepContext
from envsim.environments.catalog import EnvironmentSet
from envsim.environments.state import validate_state
from envsim.messages import ToolCall

from .conftest import RETAIL_DIR

TAU2 = Path("/work/shared/datasets/tau2-retail")
pytestmark = pytest.mark.skipif(not (TAU2 / "db.json").is_file(), reason="tau2-bench retail data not available")

EXPECTED_FAILURES = {
    "2_1": "Product 6086499569 not found",
    "3_1": "Product 6086499569 not found",
    "4_1": "Product 6086499569 not found",
    "35_0": "User not found",
    "37_0": "User not found",
    "38_0": "User not found",
    "39_0": "User not found",
    "46_1": "Order #9502126 not found",
    "46_2": "Order #9502127 not found",
    "47_1": "Order #9502126 not found",
    "47_2": "Order #9502127 not found",
    "54_0": "User not found",
    "55_0": "User not found",
    "64_6": "Non-delivered order cannot be exchanged",
    "67_0": "User not found",
    "67_1": "User not found",
    "68_0": "User not found",
    "106_0": "Insufficient gift card balance (17.0) to pay for the price difference (21.1)",
}
# Tasks whose gold actions together use every retail tool (the fast subset).
COVERING_TASKS = ["41", "38", "91", "50", "40", "21"]


@pytest.fixture(scope="module")
def tau2() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    db = json.loads((TAU2 / "db.json").read_text(encoding="utf-8"))
    tasks = json.loads((TAU2 / "tasks.json").read_text(encoding="utf-8"))
    return db, tasks


def _arguments(arguments: dict[str, Any]) -> dict[str, Any]:
    return {("state_code" if key == "state" else key): value for key, value in arguments.items()}


async def _replay(db: dict[str, Any], tasks: list[dict[str, Any]]) -> dict[str, str]:
    """Run every task's gold actions on a fresh copy of the tau2 database; return action id -> error."""
    catalog = load_environment_catalog(RETAIL_DIR / "retail.yaml")
    schema = catalog.environments[0].state_params.state_schema  # type: ignore[union-attr]
    failures: dict[str, str] = {}
    for task in tasks:
        envs = EnvironmentSet.build(
            catalog.environments, base_dir=RETAIL_DIR, initial_states={"retail": copy.deepcopy(db)}
        )
        for action in task["evaluation_criteria"]["actions"]:
            call = ToolCall.make(action["name"], _arguments(action["arguments"]), id=action["action_id"])
            result = await envs.step(call, StepContext(episode_id=task["id"]))
            if result.error is not None:
                failures[action["action_id"]] = result.error
        assert validate_state(schema, envs.states()["retail"]) == [], f"task {task['id']} left an invalid state"
    return failures


def _check(failures: dict[str, str], tasks: list[dict[str, Any]]) -> None:
    ids = {a["action_id"] for t in tasks for a in t["evaluation_criteria"]["actions"]}
    expected = {k: v for k, v in EXPECTED_FAILURES.items() if k in ids}
    assert set(failures) == set(expected), failures
    for action_id, fragment in expected.items():
        assert fragment in failures[action_id]


def test_tau2_database_is_a_valid_initial_state(tau2: tuple[dict[str, Any], list[dict[str, Any]]]) -> None:
    catalog = load_environment_catalog(RETAIL_DIR / "retail.yaml")
    assert validate_state(catalog.environments[0].state_params.state_schema, tau2[0]) == []  # type: ignore[union-attr]


def test_gold_actions_of_one_task(tau2: tuple[dict[str, Any], list[dict[str, Any]]]) -> None:
    # Validating the 2.8 MB state after each write takes most of a second: one task stays in the fast suite.
    db, tasks = tau2
    subset = [t for t in tasks if t["id"] == "38"]  # lookups, calculate, cancel (with a refund)
    _check(asyncio.run(_replay(db, subset)), subset)


@pytest.mark.slow
def test_gold_actions_of_tasks_covering_every_tool(tau2: tuple[dict[str, Any], list[dict[str, Any]]]) -> None:
    db, tasks = tau2
    subset = [t for t in tasks if t["id"] in COVERING_TASKS]
    used = {a["name"] for t in subset for a in t["evaluation_criteria"]["actions"]}
    assert used == {a["name"] for t in tasks for a in t["evaluation_criteria"]["actions"]}
    _check(asyncio.run(_replay(db, subset)), subset)


@pytest.mark.slow
def test_gold_actions_of_every_task(tau2: tuple[dict[str, Any], list[dict[str, Any]]]) -> None:
    db, tasks = tau2
    _check(asyncio.run(_replay(db, tasks)), tasks)

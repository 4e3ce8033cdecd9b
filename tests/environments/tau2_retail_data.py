"""Shared by the tau2_retail tests: where tau2-bench's data is, its tasks, and the fingerprints of what
tau2-bench's own code does with them (tests/environments/data/tau2_retail/, see the generator there)."""

from __future__ import annotations

import copy
import hashlib
import importlib
import json
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonpatch
import jsonpointer
import pytest

from envsim.environments.catalog import EnvironmentSet
from envsim.environments.handlers import load_module
from envsim.environments.state_store import StateStore
from envsim.environments.tool_environment import ToolEnvironment

REPO = Path(__file__).resolve().parents[2]
CATALOG_DIR = REPO / "environments" / "tau2_retail"
CATALOG = CATALOG_DIR / "tau2_retail.yaml"
FINGERPRINTS = Path(__file__).parent / "data" / "tau2_retail" / "fingerprints.json"
DATA_ENV = "ENVSIM_TAU2_RETAIL_DIR"


def tau2_data_dir() -> Path | None:
    """The catalog's own search order: $ENVSIM_TAU2_RETAIL_DIR, then <project root>/../shared/..."""
    for candidate in (os.environ.get(DATA_ENV), REPO.parent / "shared" / "datasets" / "tau2-retail"):
        if candidate and (Path(candidate) / "db.json").is_file():
            return Path(candidate)
    return None


TAU2_DIR = tau2_data_dir()
requires_tau2_data = pytest.mark.skipif(
    TAU2_DIR is None,
    reason=f"tau2-bench retail data not found (set {DATA_ENV}, or put it at <project root>/../shared/datasets/"
    "tau2-retail); it is never copied into the repository",
)


def tools_module() -> ModuleType:
    """The catalog's tool module, the same module object its environments run."""
    return load_module("tau2_retail_tools.py", CATALOG_DIR)


def db_module() -> ModuleType:
    tools_module()  # puts the catalog directory on sys.path, where the tools import it from
    return importlib.import_module("tau2_retail_db")


@dataclass(frozen=True)
class ActionPrint:
    id: str
    name: str
    output: str  # short sha256 of tau2's tool message content
    error: str | None  # tau2's error message when the action failed


@dataclass(frozen=True)
class TaskPrint:
    task: str
    db_hash: str  # tau2's get_db_hash() after the gold actions
    changed: list[str]
    actions: list[ActionPrint]


@cache
def fingerprints() -> dict[str, TaskPrint]:
    document = json.loads(FINGERPRINTS.read_text(encoding="utf-8"))
    assert TAU2_DIR is not None
    on_disk = hashlib.sha256((TAU2_DIR / "db.json").read_bytes()).hexdigest()
    if on_disk != document["db_sha256"]:
        pytest.fail(f"{TAU2_DIR / 'db.json'} is not the database the fingerprints were made from; regenerate them")
    return {
        t["task"]: TaskPrint(
            task=t["task"],
            db_hash=t["db_hash"],
            changed=t["changed"],
            actions=[ActionPrint(a["id"], a["name"], a["output"], a.get("error")) for a in t["actions"]],
        )
        for t in document["tasks"]
    }


@cache
def raw_db() -> str:
    assert TAU2_DIR is not None
    return (TAU2_DIR / "db.json").read_text(encoding="utf-8")


@cache
def tasks() -> dict[str, dict[str, Any]]:
    assert TAU2_DIR is not None
    return {t["id"]: t for t in json.loads((TAU2_DIR / "tasks.json").read_text(encoding="utf-8"))}


def gold_actions(task_id: str) -> list[dict[str, Any]]:
    return tasks()[task_id]["evaluation_criteria"].get("actions") or []


def output_digest(content: str) -> str:
    return hashlib.sha256(content.encode("utf-8")).hexdigest()[:16]


def reset_db(db: dict[str, Any], initial: dict[str, Any]) -> None:
    """Make `db` equal to `initial` again by restoring only the records that differ (a fresh
    json.loads of the 2.8 MB database per task would cost most of the test). `initial` is a separate
    copy the tools never see, and the comparison is complete, so nothing a tool did survives."""
    for table, records in initial.items():
        current = db[table]
        for key in [k for k in current if k not in records]:
            del current[key]
        for key, record in records.items():
            if current.get(key) != record:
                current[key] = copy.deepcopy(record)


def state_store(envs: EnvironmentSet) -> StateStore:
    """The tau2_retail environment's state: `.root` is the committed state (an overlay, no copy),
    `.shared.value` the immutable initial state every episode of the process shares."""
    env = envs.environments["tau2_retail"]
    assert isinstance(env, ToolEnvironment) and env.state_store is not None
    return env.state_store


def apply_patch_sharing(base: dict[str, Any], patch: list[dict[str, Any]]) -> dict[str, Any]:
    """RFC 6902 `patch` applied to `base` by the jsonpatch library (not envsim's engine), without
    mutating `base` and without copying all of it: only the containers on the operations' paths are
    copied (once each), so untouched records are `base`'s own objects. O(what the patch touches)."""
    root = dict(base)
    owned = {id(root)}
    for operation in patch:
        for where in (operation["path"], operation.get("from")):
            if where is None:
                continue
            node: Any = root
            for token in jsonpointer.JsonPointer(where).parts[:-1]:
                key: Any = int(token) if isinstance(node, list) else token
                child = node[key]
                if id(child) not in owned:
                    child = copy.copy(child)  # the copies stay in the tree, so their ids are not reused
                    owned.add(id(child))
                    node[key] = child
                node = child
        # jsonpatch inserts values by reference (a later operation would change the recorded one).
        root = jsonpatch.apply_patch(root, [copy.deepcopy(operation)], in_place=True)
    return root


def same_json(a: Any, b: Any) -> bool:
    """Exact JSON equality (1, 1.0 and true differ; key sets and order of arrays matter), taking
    shared subtrees (the same object on both sides) as equal without walking them."""
    if a is b:
        return True
    if isinstance(a, dict):
        return (
            isinstance(b, dict)
            and len(a) == len(b)
            and all(key in b and same_json(value, b[key]) for key, value in a.items())
        )
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(same_json, a, b))
    return type(a) is type(b) and bool(a == b)


def replay_problems(
    results: list[Any], final: dict[str, Any], base: dict[str, Any], hasher: Any, expected: TaskPrint
) -> list[str]:
    """How a replay of `expected.task` differs from tau2's run (empty: it does not).

    `results`: the StepResults of the task's gold actions; `final`: the environment's committed state
    after them; `base`: the initial state it started from (the shared base its overlay is over), which
    `hasher` (a DbHasher) was built on. Checks each action's output (or tau2's error), tau2's hash of
    the final database, and that `base` + the recorded patches == `final`, exactly."""
    content = db_module().message_content
    problems = []
    for result, want in zip(results, expected.actions, strict=True):
        if want.error is not None:
            if (result.error, result.patch) != (f"ValueError: {want.error}", []):
                problems.append(f"{want.id}: expected tau2's error {want.error!r} and no change, got {result.error!r}")
        elif result.error is not None:
            problems.append(f"{want.id}: {result.error}")
        elif output_digest(content(result.output)) != want.output:
            problems.append(f"{want.id}: output differs from tau2's")
    if hasher.hash(final) != expected.db_hash:
        problems.append(f"task {expected.task}: the database differs from tau2's")
    patches = [operation for result in results for operation in result.patch]
    if not same_json(apply_patch_sharing(base, patches), final):
        problems.append(f"task {expected.task}: initial state + recorded patches != final state")
    return problems

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

import pytest

from envsim.environments.handlers import load_module

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

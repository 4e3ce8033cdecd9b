"""tau2_scenarios.py turns tau2's retail tasks into an envsim scenario catalog whose expectations are
tau2's checks: the final state must be the gold state (which is tau2's gold database, by tau2's hash)
and the agent must communicate tau2's `communicate_info`."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from tau2_retail_data import CATALOG_DIR, db_module, fingerprints, gold_actions, raw_db, requires_tau2_data

from envsim.environments.handlers import load_module
from envsim.environments.state import canonical_sha256
from envsim.scenarios.catalog import load_catalog
from envsim.scenarios.replay import replay_scenario

pytestmark = requires_tau2_data
TASKS = ["36", "50", "100"]  # a three-item modification; no database change; a modification and a return


def _scenarios_module() -> ModuleType:
    # Loaded like the catalog's tool files (its directory goes on sys.path, where its siblings are).
    return load_module("tau2_scenarios.py", CATALOG_DIR)


@pytest.fixture
def written(tmp_path: Path) -> Path:
    out = tmp_path / "tau2_tasks.yaml"
    _scenarios_module().main(["--out", str(out), "--tasks", ",".join(TASKS)])
    return out


def _gold_state(task_id: str) -> dict[str, Any]:
    return _scenarios_module().gold_state(
        json.loads(raw_db()), {"evaluation_criteria": {"actions": gold_actions(task_id)}}
    )


def test_catalog_loads_with_tau2s_checks_as_expectations(written: Path) -> None:
    loaded = load_catalog(written)
    scenarios = {s.id: s for s in loaded.scenarios}
    assert list(scenarios) == [f"tau2-retail-{t}" for t in TASKS]
    assert not any(s.scripted for s in scenarios.values())
    for task_id in TASKS:
        gold = _gold_state(task_id)
        assert db_module().db_hash(gold) == fingerprints()[task_id].db_hash  # the gold state is tau2's gold DB
        assert scenarios[f"tau2-retail-{task_id}"].expect.state_hash == {"tau2_retail": canonical_sha256(gold)}
    # A task without write actions expects the database untouched.
    assert scenarios["tau2-retail-50"].expect.state_hash["tau2_retail"] == canonical_sha256(json.loads(raw_db()))
    assert scenarios["tau2-retail-50"].attributes["known_info"]


@pytest.mark.slow
def test_gold_actions_as_a_script_pass_the_expectations(written: Path) -> None:
    """The end-to-end proof: an agent doing exactly tau2's gold actions passes; one doing less fails."""
    document = yaml.safe_load(written.read_text(encoding="utf-8"))
    for scenario in document["scenarios"]:
        actions = gold_actions(scenario["id"].removeprefix("tau2-retail-"))
        rounds = [[{"name": a["name"], "arguments": a["arguments"]}] for a in actions]
        text = " ".join(scenario["expect"].get("communicates", [])) or "Done."
        scenario["script"] = [{"user": "Hi"}, {"assistant": {"rounds": rounds, "text": text}}]
    lazy = json.loads(json.dumps(next(s for s in document["scenarios"] if s["id"] == "tau2-retail-100")))
    lazy["id"] = "lazy"
    lazy["script"][1]["assistant"]["rounds"] = lazy["script"][1]["assistant"]["rounds"][:-1]
    document["scenarios"].append(lazy)
    written.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    loaded = load_catalog(written)
    verdicts = {s.id: all(c.passed for c in asyncio.run(replay_scenario(loaded, s)).checks) for s in loaded.scenarios}
    assert verdicts == {"tau2-retail-36": True, "tau2-retail-50": True, "tau2-retail-100": True, "lazy": False}

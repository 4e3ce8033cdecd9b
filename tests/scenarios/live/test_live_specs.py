"""Episode specs of a live scenario run: ids, trials, seeds, attributes, initial states, selection."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from envsim.errors import ConfigError, ConfigErrors
from envsim.scenarios.live import ScenarioRun

from .helpers import cancel_scenario, write_catalog

PATCH = [{"op": "replace", "path": "/orders/#W1002/status", "value": "pending"}]
SCRIPT = [{"user": "Cancel #W1001 please."}, {"assistant": {"text": "Done."}}]


def scenarios() -> list[dict]:
    return [
        cancel_scenario("scripted", "cancel", script=SCRIPT),
        cancel_scenario("patched", "cancel", "#W1002", initial_state={"retail": {"patch": PATCH}}),
        cancel_scenario("plain", "chat", "#W1005"),
        cancel_scenario("fixed-seed", "odd", "#W1007", seed=99),
    ]


@pytest.fixture
def run(tmp_path: Path) -> ScenarioRun:
    return ScenarioRun.from_catalog_file(write_catalog(tmp_path, scenarios()))


def test_one_spec_per_unscripted_scenario_and_trial(run: ScenarioRun) -> None:
    specs = run.specs(2)
    assert [s.episode_id for s in specs] == [
        "ep-000001", "ep-000001-t1", "ep-000002", "ep-000002-t1", "ep-000003", "ep-000003-t1",
    ]  # fmt: skip
    assert [(s.scenario_id, s.trial, s.sample_index) for s in specs[:2]] == [("patched", 0, 1), ("patched", 1, 1)]
    assert specs[2].attributes == {"mode": "chat", "order": "#W1005"}


def test_seeds_differ_per_trial_and_are_reproducible(run: ScenarioRun, tmp_path: Path) -> None:
    specs = run.specs(3)
    assert len({s.seed for s in specs}) == len(specs)
    again = ScenarioRun.from_catalog_file(run.catalog.path).specs(3)
    assert [s.seed for s in again] == [s.seed for s in specs]
    # A scenario's own seed fixes its trials' seeds wherever it sits in the catalog.
    moved = write_catalog(tmp_path / "moved", list(reversed(scenarios())))
    fixed = [s.seed for s in ScenarioRun.from_catalog_file(moved).specs(3) if s.scenario_id == "fixed-seed"]
    assert fixed == [s.seed for s in specs if s.scenario_id == "fixed-seed"]


def test_initial_states_come_from_the_catalog_in_patch_and_full_form(tmp_path: Path) -> None:
    full = {"products": {}, "users": {}, "orders": {}}
    path = write_catalog(
        tmp_path,
        [
            cancel_scenario("patched", "cancel", initial_state={"retail": {"patch": PATCH}}),
            cancel_scenario("full", "cancel", initial_state={"retail": {"state": full}}),
            cancel_scenario("catalog-state", "cancel"),
        ],
    )
    specs = ScenarioRun.from_catalog_file(path).specs(1)
    assert [s.initial_states for s in specs] == [{"retail": PATCH}, {"retail": full}, None]


def test_scripted_scenarios_only_with_include_scripted_and_limit(run: ScenarioRun) -> None:
    everything = run.specs(1, include_scripted=True)
    assert [s.scenario_id for s in everything] == ["scripted", "patched", "plain", "fixed-seed"]
    assert everything[0].episode_id == "ep-000000"  # ids are catalog positions, whatever the selection
    assert [s.scenario_id for s in run.specs(1, limit=2)] == ["patched", "plain"]


def test_check_expectations_fills_trace_checks(run: ScenarioRun) -> None:
    from envsim.recording.trace import TerminationReason, Trace

    trace = Trace(
        episode_id="ep-000002",
        scenario_id="plain",
        seed=1,
        termination=TerminationReason.MAX_TURNS,
        final_state={"retail": {"orders": {}}},
    )
    checked = run.check_expectations(trace)
    assert [c.kind for c in checked.checks or []] == ["state_equals", "tool_called", "communicates"]
    assert not any(c.passed for c in checked.checks or [])


def test_zero_trials_is_an_error(run: ScenarioRun) -> None:
    with pytest.raises(ConfigError, match="--trials must be at least 1"):
        run.specs(0)


def test_only_scripted_scenarios_says_to_replay_or_include_them(tmp_path: Path) -> None:
    path = write_catalog(tmp_path, [cancel_scenario("scripted", "cancel", script=SCRIPT)])
    with pytest.raises(ConfigError, match="all 1 scenario") as caught:
        ScenarioRun.from_catalog_file(path).specs(1)
    assert "--include-scripted" in caught.value.render()


def test_a_missing_attribute_is_reported_per_scenario_before_running(tmp_path: Path) -> None:
    broken = {"id": "no-order", "attributes": {"mode": "cancel"}}
    path = write_catalog(tmp_path, [cancel_scenario("ok", "cancel"), broken])
    with pytest.raises(ConfigErrors) as caught:
        ScenarioRun.from_catalog_file(path).specs(1)
    text = caught.value.render()
    assert "scenario 'no-order'" in text and "order" in text and "scenarios[1].attributes" in text
    assert "'ok'" not in text


def test_the_conversations_own_placeholders_need_no_scenario_attribute(tmp_path: Path) -> None:
    path = write_catalog(tmp_path, [cancel_scenario("ok", "cancel")])
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    document["multiturn"]["role_instruction_messages"]["USER"] = "Turn {current_turn} of {target_turns}: {order}."
    document["multiturn"]["role_instruction_messages"]["ASSISTANT"] = "Help with {missing} at turn {current_turn}."
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    with pytest.raises(ConfigErrors) as caught:
        ScenarioRun.from_catalog_file(path).specs(1)
    (error,) = caught.value.errors  # only the attribute the scenario lacks
    assert "no attribute named 'missing'" in error.message


def test_catalog_without_models_or_instructions(tmp_path: Path) -> None:
    no_model = write_catalog(tmp_path / "a", [cancel_scenario("x", "cancel")], model=None)
    with pytest.raises(ConfigError, match="no inference_config") as caught:
        ScenarioRun.from_catalog_file(no_model)
    assert "--model" in caught.value.render()
    assert ScenarioRun.from_catalog_file(no_model, model_override="mock:x").config.inference_config.model.model_name
    no_roles = write_catalog(tmp_path / "b", [cancel_scenario("x", "cancel")], multiturn=False)
    with pytest.raises(ConfigError, match="role instructions"):
        ScenarioRun.from_catalog_file(no_roles)

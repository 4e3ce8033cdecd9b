"""`envsim run CATALOG --trials K`: the evaluation table, exit codes (--fail-under) and user errors."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from envsim.cli import app

from .helpers import cancel_scenario, write_catalog

runner = CliRunner()
PASSING = [cancel_scenario("always", "cancel", "#W1001")]
MIXED = [*PASSING, cancel_scenario("never", "chat", "#W1005")]


def run(*args: str) -> object:
    return runner.invoke(app, ["run", *args])


def test_all_scenarios_passing_exits_0_and_prints_the_table(tmp_path: Path) -> None:
    result = run(str(write_catalog(tmp_path, PASSING)), "--trials", "2", "--out", str(tmp_path / "run"))
    assert result.exit_code == 0, result.output
    assert "scenario evaluation" in result.stdout and "always" in result.stdout
    assert "pass^1 = 1.000" in result.stdout and "pass^2 = 1.000" in result.stdout
    assert (tmp_path / "run" / "evaluation.json").is_file()


def test_a_failing_scenario_exits_1_unless_fail_under_allows_it(tmp_path: Path) -> None:
    catalog = str(write_catalog(tmp_path, MIXED))
    strict = run(catalog, "--trials", "2", "--out", str(tmp_path / "run"))
    assert strict.exit_code == 1
    assert "1/2 scenarios passed every trial" in strict.stdout and "pass^1 = 0.500" in strict.stdout
    assert "below --fail-under 1" in strict.output
    tolerant = run(catalog, "--trials", "2", "--out", str(tmp_path / "run"), "--fail-under", "0.5")
    assert tolerant.exit_code == 0, tolerant.output
    assert "finished before resume" in tolerant.stdout  # the second invocation resumed, ran nothing new


def test_bad_trials_and_fail_under_are_user_errors(tmp_path: Path) -> None:
    catalog = str(write_catalog(tmp_path, PASSING))
    zero = run(catalog, "--trials", "0")
    assert zero.exit_code == 1 and "--trials must be at least 1" in zero.output
    rate = run(catalog, "--fail-under", "2")
    assert rate.exit_code == 1 and "between 0 and 1" in rate.output
    assert "Traceback" not in zero.output + rate.output


def test_catalog_without_models_needs_model_option(tmp_path: Path) -> None:
    catalog = str(write_catalog(tmp_path, PASSING, model=None))
    missing = run(catalog, "--out", str(tmp_path / "run"))
    assert missing.exit_code == 1
    assert "no inference_config" in missing.output and "--model" in missing.output
    assert "Traceback" not in missing.output
    given = run(catalog, "--out", str(tmp_path / "run"), "--model", f"function:{tmp_path / 'replies.py'}:reply")
    assert given.exit_code == 0, given.output
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["models"]["assistant"].startswith("function:")


def test_include_scripted_and_num_samples(tmp_path: Path) -> None:
    script = [{"user": "Cancel it."}, {"assistant": {"text": "Done."}}]
    catalog = str(write_catalog(tmp_path, [cancel_scenario("scripted", "cancel", script=script), *MIXED]))
    first = run(catalog, "--out", str(tmp_path / "a"), "--num-samples", "1")
    assert first.exit_code == 0, first.output  # only the first unscripted scenario ("always")
    assert "never" not in first.stdout
    every = run(catalog, "--out", str(tmp_path / "b"), "--include-scripted", "--fail-under", "0")
    assert every.exit_code == 0, every.output
    scored = json.loads((tmp_path / "b" / "evaluation.json").read_text())["scenarios"]
    assert [s["scenario_id"] for s in scored] == ["always", "never", "scripted"]


def test_validate_accepts_a_scenario_catalog(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(write_catalog(tmp_path, MIXED))])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ok") and "2 (0 scripted, 2 unscripted)" in result.output
    broken = write_catalog(tmp_path / "broken", [{"id": "x", "attributes": {"mode": "cancel"}}])
    bad = runner.invoke(app, ["validate", str(broken)])
    assert bad.exit_code == 1 and "scenario 'x'" in bad.output

"""Replay: the shipped catalogs pass, replays are byte-identical, traces keep the recorder's invariant,
the CLI's exit codes, and the re-execution diff on a deliberately changed environment."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from envsim.cli import app
from envsim.recording import RunDirectory
from envsim.recording.verify import verify_trace
from envsim.scenarios.reexecute import reexecute_run
from envsim.scenarios.replay import replay_catalogs

from .conftest import REPO, RETAIL_DIR
from .helpers import cancel_scenario, write_catalog

SHIPPED = REPO / "scenarios"
runner = CliRunner()


def test_shipped_catalogs_all_pass(tmp_path: Path) -> None:
    report = asyncio.run(replay_catalogs(SHIPPED, tmp_path / "run"))
    assert len(report.outcomes) >= 20
    assert [o.scenario_id for o in report.failed] == []
    run = RunDirectory.open(tmp_path / "run", manifest=None)
    for trace in run.traces(include_failed=True):
        assert trace.termination == "script_end"
        assert verify_trace(trace) == []  # initial state + recorded patches == final state
    # Successful flows, refusals and invalid requests are all represented.
    traces = list(run.traces())
    assert any(all(s.error is None for s in t.steps) for t in traces)
    assert sum(any(s.error for s in t.steps) for t in traces) >= 8


def test_two_replays_are_byte_identical(tmp_path: Path) -> None:
    asyncio.run(replay_catalogs(SHIPPED, tmp_path / "a"))
    asyncio.run(replay_catalogs(SHIPPED, tmp_path / "b"))
    first = (tmp_path / "a" / "traces.jsonl").read_bytes()
    assert first and first == (tmp_path / "b" / "traces.jsonl").read_bytes()


def test_replay_records_a_live_shaped_trace(tmp_path: Path) -> None:
    catalog = write_catalog(tmp_path / "c.yaml", RETAIL_DIR / "retail.yaml", [cancel_scenario()])
    asyncio.run(replay_catalogs(catalog, tmp_path / "run"))
    (trace,) = RunDirectory.open(tmp_path / "run", manifest=None).traces()
    assert [m.role for m in trace.messages] == ["user", "assistant", "tool", "assistant", "tool", "assistant"]
    assert [(s.turn, s.round, s.tool) for s in trace.steps] == [
        (1, 1, "find_user_id_by_email"),
        (1, 2, "cancel_pending_order"),
    ]
    assert trace.messages[2].tool_call_id == trace.steps[0].call_id
    assert trace.steps[1].patch and trace.final_state["retail"]["orders"]["#W1001"]["status"] == "cancelled"
    assert trace.initial_state["retail"]["orders"]["#W1001"]["status"] == "pending"
    assert {t.name for t in trace.tools} >= {"cancel_pending_order", "calculate"}
    assert trace.checks and all(c.passed for c in trace.checks)


def test_cli_replay_exit_codes(tmp_path: Path) -> None:
    ok = write_catalog(tmp_path / "ok.yaml", RETAIL_DIR / "retail.yaml", [cancel_scenario()])
    result = runner.invoke(app, ["replay", str(ok), "--out", str(tmp_path / "ok-run")])
    assert result.exit_code == 0, result.output
    assert "1/1 scenarios passed" in result.output
    # Piped output (CliRunner's stdout is no terminal) keeps the copyable export command on one line.
    run = tmp_path / "ok-run"
    assert f"--format openai --out {run / 'train.jsonl'}" in result.output

    wrong = cancel_scenario(state=[{"path": "/orders/#W1001/status", "equals": "pending"}])
    bad = write_catalog(tmp_path / "bad.yaml", RETAIL_DIR / "retail.yaml", [wrong])
    result = runner.invoke(app, ["replay", str(bad), "--out", str(tmp_path / "bad-run")])
    assert result.exit_code == 1
    assert "FAIL" in result.output and "expected 'pending'" in result.output.replace("\n", " ")
    assert (tmp_path / "bad-run" / "traces.jsonl").read_text().strip()  # a normal run directory

    broken = tmp_path / "broken.yaml"
    broken.write_text("environment_config_path: nope.yaml\nscenarios: []\n")
    result = runner.invoke(app, ["replay", str(broken), "--out", str(tmp_path / "x")])
    assert result.exit_code == 1 and "not found" in result.output


def test_replay_replaces_an_earlier_replay_but_not_a_live_run(tmp_path: Path) -> None:
    catalog = write_catalog(tmp_path / "c.yaml", RETAIL_DIR / "retail.yaml", [cancel_scenario()])
    asyncio.run(replay_catalogs(catalog, tmp_path / "run"))
    asyncio.run(replay_catalogs(catalog, tmp_path / "run"))  # again: replaced, no duplicates
    assert len((tmp_path / "run" / "traces.jsonl").read_text().splitlines()) == 1
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    manifest["config"]["kind"] = "live"
    (tmp_path / "run" / "manifest.json").write_text(json.dumps(manifest))
    from envsim.errors import RunError

    with pytest.raises(RunError, match="not a scenario replay"):
        asyncio.run(replay_catalogs(catalog, tmp_path / "run"))


def test_synthetic_call_without_reply_or_model_is_refused(tmp_path: Path) -> None:
    scenario = {
        "id": "no-reply",
        "script": [
            {"user": "Look up T-1001"},
            {"assistant": {"tool_calls": [{"name": "get_ticket", "arguments": {"ticket_id": "T-1001"}}], "text": "."}},
        ],
    }
    catalog = write_catalog(tmp_path / "c.yaml", REPO / "environments" / "support.yaml", [scenario])
    result = runner.invoke(app, ["replay", str(catalog), "--out", str(tmp_path / "run")])
    assert result.exit_code == 1
    text = result.output.replace("\n", " ")
    assert "no-reply" in text and "get_ticket" in text and "output:" in text


def test_reexecution_reports_a_changed_tool(tmp_path: Path, retail_copy: Path) -> None:
    scenarios = [cancel_scenario("cancel"), {**cancel_scenario("lookup"), "expect": {}}]
    scenarios[1]["script"][1]["assistant"]["rounds"] = scenarios[1]["script"][1]["assistant"]["rounds"][:1]
    catalog = write_catalog(tmp_path / "c.yaml", retail_copy, scenarios)
    asyncio.run(replay_catalogs(catalog, tmp_path / "run"))

    unchanged = asyncio.run(reexecute_run(tmp_path / "run"))
    assert unchanged.episodes == 2 and not unchanged.changed
    assert runner.invoke(app, ["replay", str(tmp_path / "run")]).exit_code == 0

    # An environment author changes the refund rule: cancellations no longer record a refund.
    tools = retail_copy.parent / "retail_tools.py"
    source = tools.read_text()
    assert 'order["payment_history"].extend(refunds)' in source
    tools.write_text(source.replace('order["payment_history"].extend(refunds)', "pass"))
    _forget_module(tools)

    report = asyncio.run(reexecute_run(tmp_path / "run"))
    assert {(d.episode_id, d.tool, d.field) for d in report.differences} == {
        ("cancel", "cancel_pending_order", "output"),
        ("cancel", "cancel_pending_order", "patch"),
    }
    patch_diff = next(d for d in report.differences if d.field == "patch")
    assert patch_diff.call_id == "call_1_2_0" and patch_diff.turn == 1
    assert "payment_history" in patch_diff.diff
    result = runner.invoke(app, ["replay", str(tmp_path / "run")])
    assert result.exit_code == 1 and "call_1_2_0" in result.output


def test_reexecution_of_a_run_needs_to_know_its_environments(tmp_path: Path) -> None:
    catalog = write_catalog(tmp_path / "c.yaml", RETAIL_DIR / "retail.yaml", [cancel_scenario()])
    asyncio.run(replay_catalogs(catalog, tmp_path / "run"))
    shutil.copy(catalog, tmp_path / "moved.yaml")
    catalog.unlink()
    result = runner.invoke(app, ["replay", str(tmp_path / "run")])
    assert result.exit_code == 1 and "--environments" in result.output
    result = runner.invoke(app, ["replay", str(tmp_path / "run"), "--environments", str(RETAIL_DIR / "retail.yaml")])
    assert result.exit_code == 0, result.output


def _forget_module(path: Path) -> None:
    """Tool files load once per process (by path); a test that edits one must drop the loaded copy."""
    import sys

    for name, module in list(sys.modules.items()):
        if getattr(module, "__file__", None) == str(path.resolve()):
            del sys.modules[name]

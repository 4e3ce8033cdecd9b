"""The shipped scenario catalogs, replayed and exported: a scenario that passes its expectations is never
left out as unrecovered; only envsim's own failures and incoherent drops keep one out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from envsim.recording import RunDirectory
from envsim.recording.exporters import EXPORT_FORMATS, export_run
from envsim.scenarios.replay import replay_catalogs

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
# Its expectation is envsim's own rule (a read-only tool's patch is rejected, then the simulator gives up):
# an infrastructure error by design, never training data.
READ_ONLY_PROBE = "support-read-only-tool-cannot-write"
# An invalid reason is rejected by argument validation and the assistant asks the user which reason applies:
# removing the call (drop) would leave a question about an error nobody sees; weight0 (openai) keeps it,
# untrained.
INVALID_REASON = "retail-cancel-invalid-reason"


async def replay_and_export(path: Path, tmp_path: Path) -> dict[str, tuple[int, dict[str, int], set[str]]]:
    """Per format: (written, skipped by reason, scenario ids left out)."""
    await replay_catalogs(path, tmp_path / "run")
    with RunDirectory.open(tmp_path / "run", manifest=None) as run:
        traces = list(run.traces())
    assert all(t.checks and all(c.passed for c in t.checks) for t in traces)  # every shipped scenario passes
    scenario_of = {t.episode_id: t.scenario_id for t in traces}
    results = {}
    for fmt in EXPORT_FORMATS:
        out = tmp_path / f"{fmt}.jsonl"
        exported = export_run(tmp_path / "run", out, fmt)
        assert "unrecovered_tool_error" not in exported.skipped, (fmt, exported.skipped)
        rows = [json.loads(line) for line in out.read_text().splitlines()]
        written = {scenario_of[row.get("id") or row.get("conversation_id")] for row in rows if fmt != "openai"}
        left_out = set(scenario_of.values()) - written if fmt != "openai" else set()
        results[fmt] = (exported.written, exported.skipped, left_out)
    return results


async def test_support_catalog_exports_every_passing_scenario(tmp_path: Path) -> None:
    results = await replay_and_export(SCENARIOS / "support_tickets.yaml", tmp_path)
    for fmt, (written, skipped, left_out) in results.items():
        assert (written, skipped) == (4, {"infrastructure_error": 1}), fmt
        assert left_out <= {READ_ONLY_PROBE}, fmt


@pytest.mark.slow
async def test_all_shipped_catalogs_export_every_passing_scenario(tmp_path: Path) -> None:
    results = await replay_and_export(SCENARIOS, tmp_path)
    assert results["openai"][:2] == (28, {"infrastructure_error": 1})
    for fmt in ("hf", "sharegpt", "llamafactory", "oumi"):
        expected = (27, {"error_turn_not_droppable": 1, "infrastructure_error": 1}, {READ_ONLY_PROBE, INVALID_REASON})
        assert results[fmt] == expected, fmt

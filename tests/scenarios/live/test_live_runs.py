"""Live scenario runs end to end: checks on every trace, known pass^k, evaluation.json, resume, config form."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from envsim.api import run_config
from envsim.errors import ConfigError
from envsim.recording import RunDirectory

from .helpers import RETAIL_CATALOG, cancel_scenario, write_catalog

# Always passes (3/3), never passes (0/3), passes on odd trials only (1/3 of 3 trials).
MIXED = [
    cancel_scenario("always", "cancel", "#W1001"),
    cancel_scenario("never", "chat", "#W1005"),
    cancel_scenario("odd-trials", "odd", "#W1007"),
]


async def test_known_pass_hat_k_and_checks_on_every_trace(tmp_path: Path) -> None:
    summary = await run_config(write_catalog(tmp_path, MIXED), out_dir=tmp_path / "run", trials=3, status_interval_s=60)
    assert summary.ok and summary.total == 9 and summary.done == 9
    evaluation = summary.evaluation
    assert evaluation is not None and not evaluation.passed
    assert [(s.scenario_id, s.trials, s.successes) for s in evaluation.scores] == [
        ("always", 3, 3), ("never", 3, 0), ("odd-trials", 3, 1),
    ]  # fmt: skip
    # pass^k = mean over scenarios of C(c, k) / C(n, k)
    assert evaluation.pass_hat == pytest.approx({1: (1 + 0 + 1 / 3) / 3, 2: 1 / 3, 3: 1 / 3})
    with RunDirectory.open(tmp_path / "run", manifest=None) as run_dir:
        traces = list(run_dir.traces(include_failed=True))
    assert len(traces) == 9
    for trace in traces:
        assert [c.kind for c in trace.checks or []] == ["state_equals", "tool_called", "communicates"]
        passed = trace.scenario_id == "always" or (trace.scenario_id == "odd-trials" and trace.trial == 1)
        assert all(c.passed for c in trace.checks or []) is passed, (trace.episode_id, trace.checks)
    odd = next(t for t in traces if t.episode_id == "ep-000002-t1")
    assert odd.scenario_id == "odd-trials" and odd.final_state["retail"]["orders"]["#W1007"]["status"] == "cancelled"


async def test_evaluation_json_is_written(tmp_path: Path) -> None:
    await run_config(write_catalog(tmp_path, MIXED), out_dir=tmp_path / "run", trials=2, status_interval_s=60)
    record = json.loads((tmp_path / "run" / "evaluation.json").read_text())
    assert record["passed"] is False
    assert record["pass_hat_k"] == {"1": pytest.approx(0.5), "2": pytest.approx(1 / 3)}
    assert record["success_rate"] == pytest.approx(0.5)
    never = next(s for s in record["scenarios"] if s["scenario_id"] == "never")
    assert never["trials"] == 2 and never["successes"] == 0 and never["success_rate"] == 0.0
    assert never["failures"][0].startswith("trial 0: state_equals: /orders/#W1005/status is 'pending'")


async def test_resume_and_more_trials_never_duplicate(tmp_path: Path) -> None:
    catalog = write_catalog(tmp_path, MIXED)
    first = await run_config(catalog, out_dir=tmp_path / "run", trials=2, status_interval_s=60)
    assert first.done == 6
    again = await run_config(catalog, out_dir=tmp_path / "run", trials=2, status_interval_s=60)
    assert again.skipped == 6 and again.done == 6
    more = await run_config(catalog, out_dir=tmp_path / "run", trials=3, status_interval_s=60)
    assert more.skipped == 6 and more.done == 9
    ids = RunDirectory.open(tmp_path / "run", manifest=None).episode_ids()
    assert len(ids) == len(set(ids)) == 9
    assert more.evaluation is not None and more.evaluation.pass_hat[3] == pytest.approx(1 / 3)
    # Fewer trials than recorded: only the asked-for trials are scored.
    fewer = await run_config(catalog, out_dir=tmp_path / "run", trials=1, status_interval_s=60)
    assert fewer.evaluation is not None and [s.trials for s in fewer.evaluation.scores] == [1, 1, 1]


CONFIG = """\
seed: 4
output_path: {output}
scenario_catalog_path: catalog/live.yaml
strategy_params:
  sampled_attributes:
    - id: tone
      possible_values:
        - {{id: curt, description: "Answer in five words or fewer."}}
        - {{id: warm, description: "Be friendly."}}
  multiturn_attributes:
    - id: config_chat
      min_turns: 1
      max_turns: 1
      output_system_prompt: "Mode: {{mode}}. Order: {{order}}. Tone: {{tone.description}}"
      role_instruction_messages: {{USER: "You want help with {{order}}.", ASSISTANT: Help.}}
{extra}inference_config:
  model: {{model_name: "function:catalog/replies.py:reply"}}
"""


def write_config(tmp_path: Path, extra: str = "") -> Path:
    write_catalog(tmp_path / "catalog", [{**cancel_scenario("always", "cancel"), "attributes": {
        "mode": "cancel", "order": "#W1001", "tone": "curt"}}], multiturn=False)  # fmt: skip
    path = tmp_path / "run.yaml"
    path.write_text(
        textwrap.dedent(CONFIG.format(extra=extra, output=tmp_path / "out" / "data.jsonl")), encoding="utf-8"
    )
    return path


async def test_a_config_naming_a_catalog_supplies_models_instructions_and_sampled_values(tmp_path: Path) -> None:
    summary = await run_config(write_config(tmp_path), out_dir=tmp_path / "run", trials=2, status_interval_s=60)
    assert summary.evaluation is not None and summary.evaluation.pass_hat == {1: 1.0, 2: 1.0}
    with RunDirectory.open(tmp_path / "run", manifest=None) as run_dir:
        trace = next(iter(run_dir.traces()))
    assert trace.conversation_id == "config_chat"
    assert trace.messages[0].content == "Mode: cancel. Order: #W1001. Tone: Answer in five words or fewer."
    assert trace.attributes["tone"] == "curt"
    assert len((tmp_path / "out" / "data.jsonl").read_text().splitlines()) == 2


async def test_a_scenario_config_with_its_own_environments_is_refused(tmp_path: Path) -> None:
    config = write_config(tmp_path, extra=f"environment_config_path: {RETAIL_CATALOG}\n")
    with pytest.raises(ConfigError, match="environments from the scenario catalog"):
        await run_config(config, out_dir=tmp_path / "run")


async def test_trials_on_a_plain_config_is_refused(tmp_path: Path) -> None:
    plain = tmp_path / "plain.yaml"
    text = (Path(__file__).resolve().parents[3] / "examples" / "retail_live.yaml").read_text()
    plain.write_text(text.replace("../environments", str(RETAIL_CATALOG.parent.parent)), encoding="utf-8")
    with pytest.raises(ConfigError, match="--trials applies to scenario runs"):
        await run_config(plain, out_dir=tmp_path / "run", trials=2)

"""The run seam: a config is built once into a RunPlan (inspectable, nothing run or written yet), and
executing a plan (again) resumes its run directory; worker processes run the plan, not the file."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from typer.testing import CliRunner

from envsim.cli import app
from envsim.config.loader import load_config
from envsim.errors import ConfigError
from envsim.recording import RunState
from envsim.runs import execute_plan, plan_run
from envsim.simulation import processes

CONFIG = """\
num_samples: 5
seed: 3
output_path: {output}
environment_config:
  environments:
    - id: weather
      type: deterministic
      tools:
        - id: get_weather
          parameters: {{type: object, properties: {{city: {{type: string}}}}, required: [city]}}
          deterministic_outputs: [{{input: {{city: Paris}}, output: {{temp: 20}}}}]
          default_output: {{temp: 15}}
strategy_params:
  sampled_attributes:
    - id: mood
      possible_values: [{{id: calm}}, {{id: angry}}]
  multiturn_attributes:
    - id: chat
      min_turns: 1
      max_turns: 2
      role_instruction_messages: {{USER: "You are a {{mood}} traveller.", ASSISTANT: "Help the traveller."}}
inference_config:
  model: {{model_name: "function:counting.py:reply"}}
  remote_params: {{num_workers: 4, max_retries: 0, requests_per_minute: 6000}}
"""

# Every model call leaves a line in calls.log, so a test can tell whether anything was simulated.
COUNTING = """\
from pathlib import Path

from envsim.models.mock import MockModel

_mock = MockModel("counting")


def reply(request):
    with (Path(__file__).parent / "calls.log").open("a", encoding="utf-8") as log:
        log.write("call\\n")
    return _mock.reply(request)
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "counting.py").write_text(COUNTING, encoding="utf-8")
    path = folder / "travel.yaml"
    path.write_text(CONFIG.format(output=folder / "out" / "data.jsonl"), encoding="utf-8")
    return path


def calls(config: Path) -> int:
    log = config.parent / "calls.log"
    return len(log.read_text(encoding="utf-8").splitlines()) if log.exists() else 0


def test_a_plan_shows_the_run_before_anything_runs(config: Path, tmp_path: Path) -> None:
    plan = plan_run(config, out_dir=tmp_path / "run", num_samples=3, seed=11, processes=2)
    assert plan.total == 3 and [spec.episode_id for spec in plan.episodes] == ["ep-000000", "ep-000001", "ep-000002"]
    assert plan.config.seed == 11 and plan.kind == "conversations" and plan.conversation is not None
    assert [env.id for env in plan.environments] == ["weather"]
    assert set(plan.role_models.values()) == {"function:counting.py:reply"}
    assert plan.dataset == config.parent / "out" / "data.jsonl"
    # Two processes share the four open episodes and the endpoint's request budget.
    assert plan.processes == 2 and plan.worker_slots == (2, 2)
    assert [w.remote_params.requests_per_minute for w in plan.worker_inference] == [3000, 3000]
    assert [w.remote_params.num_workers for w in plan.worker_inference] == [2, 2]
    # Building the plan called no model and wrote nothing.
    assert calls(config) == 0 and not (tmp_path / "run").exists() and not plan.dataset.exists()
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.processes = 1  # type: ignore[misc]


async def test_executing_a_plan_twice_resumes_instead_of_repeating(config: Path, tmp_path: Path) -> None:
    plan = plan_run(config, out_dir=tmp_path / "run", no_cache=True)  # a repeat would call the model again
    first = await execute_plan(plan)
    assert first.state is RunState.DONE and (first.done, first.skipped, first.total) == (5, 0, 5)
    made = calls(config)
    traces = (tmp_path / "run" / "traces.jsonl").read_bytes()
    dataset = (config.parent / "out" / "data.jsonl").read_bytes()
    again = await execute_plan(plan)
    assert (again.done, again.skipped, again.total) == (5, 5, 5) and again.ok
    assert calls(config) == made > 0
    assert (tmp_path / "run" / "traces.jsonl").read_bytes() == traces
    assert (config.parent / "out" / "data.jsonl").read_bytes() == dataset and again.dataset_written == 5


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
async def test_worker_processes_run_the_plan_not_a_reread_of_the_file(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start_method: str
) -> None:
    """The plan is the run: editing (here: breaking) the config after planning changes nothing, in this
    process or in its workers, forked or spawned (a spawned worker gets the plan pickled)."""
    monkeypatch.setattr(processes, "default_start_method", lambda: start_method)
    reference = await execute_plan(plan_run(config, out_dir=tmp_path / "one", no_cache=True, num_samples=4))
    # force: the second run takes over the dataset file the first one wrote
    plan = plan_run(config, out_dir=tmp_path / "two", no_cache=True, num_samples=4, processes=2, force=True)
    config.write_text("num_samples: [this is not a config\n", encoding="utf-8")
    summary = await execute_plan(plan)
    assert summary.done == reference.done == 4
    assert (tmp_path / "two" / "traces.jsonl").read_bytes() == (tmp_path / "one" / "traces.jsonl").read_bytes()


def test_bad_options_fail_when_planning_before_anything_is_written(config: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="batch mode runs in one process"):
        plan_run(config, out_dir=tmp_path / "run", processes=2, batch=True)
    with pytest.raises(ConfigError, match="--processes must be at least 1"):
        plan_run(config, out_dir=tmp_path / "run", processes=0)
    with pytest.raises(ConfigError, match="--trials applies to scenario runs"):
        plan_run(config, out_dir=tmp_path / "run", trials=2)
    assert not (tmp_path / "run").exists() and calls(config) == 0


def test_planning_a_batch_run_leaves_the_callers_config_object_alone(config: Path, tmp_path: Path) -> None:
    loaded = load_config(config)
    plan = plan_run(loaded, out_dir=tmp_path / "run", batch=True)
    assert plan.batch is not None and plan.batch.enabled
    assert loaded.inference_config.batch is None  # the caller's object, unchanged
    assert plan.config.source_path == loaded.source_path


def test_cli_dry_run_prints_the_plan_and_writes_nothing(config: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "run"
    dry = runner.invoke(app, ["run", str(config), "--out", str(out), "--dry-run", "--processes", "2"])
    assert dry.exit_code == 0, dry.output
    text = " ".join(dry.output.split())
    assert "5 (seed 3)" in text and f"{out} (new)" in text and "2 (2, 2 open episodes each)" in text
    assert "function:counting.py:reply (every role)" in text and str(config.parent / "out" / "data.jsonl") in text
    assert not out.exists() and calls(config) == 0 and not (config.parent / "out").exists()
    partial = runner.invoke(app, ["run", str(config), "--out", str(out), "--num-samples", "2"])
    assert partial.exit_code == 0, partial.output
    made = calls(config)
    resumed = runner.invoke(app, ["run", str(config), "--out", str(out), "--dry-run"])
    assert resumed.exit_code == 0, resumed.output
    assert "resumes: 2 of 5 episodes finished" in " ".join(resumed.output.split())
    # A changed config: the dry run says what the run would say, and refuse.
    changed = runner.invoke(app, ["run", str(config), "--out", str(out), "--dry-run", "--seed", "9"])
    assert changed.exit_code == 0, changed.output
    assert "refused: started with a different config (changed: config.seed, seed (3 -> 9))" in " ".join(
        changed.output.split()
    )
    refused = runner.invoke(app, ["run", str(config), "--out", str(out), "--seed", "9"])
    assert refused.exit_code == 1 and "different config; changed: config.seed, seed (3 -> 9)" in refused.output
    assert calls(config) == made


def test_cli_dry_run_reports_a_bad_option_like_a_run(config: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", str(config), "--out", str(out), "--dry-run", "--trials", "2"])
    assert result.exit_code == 1 and "--trials applies to scenario runs" in " ".join(result.output.split())
    assert not out.exists() and calls(config) == 0


def test_a_scenario_run_plans_each_scenario_trial_pair(tmp_path: Path) -> None:
    catalog = Path(__file__).resolve().parents[2] / "examples" / "scenarios_live.yaml"
    plan = plan_run(catalog, out_dir=tmp_path / "run", trials=2, num_samples=2)  # the first two scenarios
    assert plan.kind == "scenario run" and plan.scenario_run is not None and plan.trials == 2
    assert [spec.episode_id for spec in plan.episodes] == ["ep-000000", "ep-000000-t1", "ep-000001", "ep-000001-t1"]
    ids = [spec.scenario_id for spec in plan.episodes]
    assert ids[0] == ids[1] != ids[2] == ids[3]
    assert plan.total == 4 and not (tmp_path / "run").exists()

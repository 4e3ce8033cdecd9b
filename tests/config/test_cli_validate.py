"""`envsim validate CONFIG`: "ok" plus a summary and exit 0, or every error and exit 1, never a traceback."""

from __future__ import annotations

import pytest
from config_helpers import MODEL, WriteFile
from typer.testing import CliRunner

from envsim import cli
from envsim.cli import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests run without a terminal (80 columns); widen so table cells are not wrapped mid-phrase."""
    monkeypatch.setattr(cli.console, "width", 160)
    monkeypatch.setattr(cli.err_console, "width", 160)


CONFIG = """
environment_config_path: envs.yaml
strategy_params:
  sampled_attributes:
    - {id: tone, possible_values: [{id: calm}, {id: angry}]}
  multiturn_attributes:
    - id: support_chat
      min_turns: 2
      max_turns: 4
      role_instruction_messages: {USER: be a customer, ASSISTANT: be an agent}
"""

CATALOG = """
environments:
  - id: support_backend
    type: synthetic
    system_prompt: You run support.
    state_params:
      state_schema: {type: object, properties: {tickets: {type: array}, users: {type: array}}}
      initial_state: {tickets: [], users: []}
    tools:
      - {id: create_ticket, read_only: false}
      - {id: get_ticket, read_only: true}
  - id: policy_table
    type: deterministic
    tools:
      - {id: get_refund_policy, read_only: true, default_output: {policy: 30 days}}
"""


def test_valid_config_prints_ok_and_summary(write: WriteFile) -> None:
    write("envs.yaml", CATALOG)
    path = write("c.yaml", CONFIG, MODEL)
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "ok"
    for expected in (
        "support_backend",
        "synthetic",
        "create_ticket",
        "get_ticket (ro)",
        "stateful",
        "tickets",
        "users",
        "policy_table",
        "deterministic",
        "tone",
        "support_chat",
        "gpt-4o-mini, engine OPENAI",
    ):
        assert expected in result.stdout


def test_catalog_file_validates_on_its_own(write: WriteFile) -> None:
    path = write("envs.yaml", CATALOG)
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("ok\n")
    assert "policy_table" in result.stdout and "models" not in result.stdout


def test_errors_exit_1_and_list_every_error(write: WriteFile) -> None:
    write("envs.yaml", CATALOG.replace("read_only: true, default_output", "read_only: true, defualt_output"))
    path = write("c.yaml", CONFIG.replace("max_turns: 4", "max_turns: 1"), MODEL)
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 1
    assert "ok" not in result.stdout
    assert "2 errors in" in result.stderr
    assert "environments[1].tools[0].defualt_output: unknown key 'defualt_output'" in result.stderr
    assert "fix: did you mean 'default_output'?" in result.stderr
    assert "strategy_params.multiturn_attributes[0].min_turns: min_turns (2) is greater than max_turns (1)" in (
        result.stderr
    )
    assert "Traceback" not in result.output


def test_yaml_syntax_error_is_a_clean_error(write: WriteFile) -> None:
    path = write("c.yaml", "a: [1, 2\n")
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 1
    assert "invalid YAML" in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_missing_file(tmp_path) -> None:
    result = runner.invoke(app, ["validate", str(tmp_path / "none.yaml")])
    assert result.exit_code == 1
    assert "file not found" in result.stderr


def test_both_override_forms(write: WriteFile) -> None:
    write("envs.yaml", CATALOG)
    path = write("c.yaml", CONFIG, MODEL)
    ok = runner.invoke(
        app,
        ["validate", str(path), "--set", "num_samples=7", "--inference_config.generation.temperature", "0.5"],
    )
    assert ok.exit_code == 0, ok.output
    assert "(7 samples)" in ok.stdout
    bad = runner.invoke(app, ["validate", str(path), "--inference_config.generation.temperature", "hot"])
    assert bad.exit_code == 1
    assert "inference_config.generation.temperature: expected a number, got a string ('hot')" in bad.stderr


def test_bad_override_path_is_reported(write: WriteFile) -> None:
    write("envs.yaml", CATALOG)
    path = write("c.yaml", CONFIG, MODEL)
    result = runner.invoke(app, ["validate", str(path), "--set", "strategy_params.sampled_attributes[5].id=x"])
    assert result.exit_code == 1
    assert "index 5 is out of range" in result.stderr


def test_attribute_checks_registered_by_other_modules_run(write: WriteFile) -> None:
    path = write(
        "c.yaml",
        """
        strategy_params:
          sampled_attributes:
            - {id: tone, possible_values: [{id: calm}]}
          multiturn_attributes:
            - id: chat
              role_instruction_messages: {USER: "You are {tone} and {mood}", ASSISTANT: help}
        """,
        MODEL,
    )
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 1
    assert "c.yaml:6:strategy_params.multiturn_attributes[0].role_instruction_messages.USER:" in result.stderr
    assert "'mood'" in result.stderr

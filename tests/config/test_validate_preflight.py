"""`envsim validate` ok means `envsim run` starts: the six configs run refused and validate said ok for.

Each broken config is refused by both commands with exit 1, naming the file and key; validate finds the
handler problems without running tool code (a handler that raises at import is found with
--import-handlers, which imports it as run does).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from envsim import cli
from envsim.cli import app

runner = CliRunner()

TOOLS = """\
import json

MARKER = "imported"


def lookup(order_id: str) -> dict:
    return {"order_id": order_id, "status": "shipped"}
"""


def _config(handler: str = "tools.py:lookup", model: str = "{model_name: 'mock:test'}") -> str:
    return f"""\
num_samples: 1
environment_config:
  environments:
    - id: orders
      type: python
      tools:
        - id: lookup
          parameters: {{type: object, properties: {{order_id: {{type: string}}}}, required: [order_id]}}
          handler: {handler}
strategy_params:
  multiturn_attributes:
    - id: chat
      min_turns: 1
      max_turns: 1
      role_instruction_messages: {{USER: Ask about an order., ASSISTANT: Help.}}
inference_config:
  model: {model}
  remote_params: {{max_retries: 0}}
"""


BROKEN = {
    "handler_file_missing": (_config(handler="nope.py:lookup"), {}, ["handler", "nope.py", "not found"]),
    "handler_function_missing": (_config(handler="tools.py:lookupp"), {}, ["handler", "lookupp"]),
    "handler_syntax_error": (
        _config(),
        {"tools.py": "def lookup(:\n    pass\n"},
        ["handler", "syntax error", "line 1"],
    ),
    "unknown_provider": (_config(model="{model_name: 'foo:bar'}"), {}, ["inference_config.model", "foo:bar"]),
    "engine_typo": (_config(model="{model_name: gpt-4o-mini, engine: OPENAII}"), {}, ["engine", "OPENAII"]),
    "module_handler_missing": (_config(handler="no_such_pkg_xyz.tools:lookup"), {}, ["handler", "no_such_pkg_xyz"]),
}
RAISES_AT_IMPORT = "raise RuntimeError('tool module refuses to load')\n\ndef lookup(order_id):\n    return {}\n"


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli.console, "width", 200)
    monkeypatch.setattr(cli.err_console, "width", 200)


def _write(tmp_path: Path, config: str, files: dict[str, str]) -> Path:
    (tmp_path / "tools.py").write_text(files.get("tools.py", TOOLS), encoding="utf-8")
    path = tmp_path / "c.yaml"
    path.write_text(config, encoding="utf-8")
    return path


def _refused(args: list[str], expect: list[str]) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit) and "Traceback" not in result.output
    assert "c.yaml" in result.output
    for expected in expect:
        assert expected in result.output, f"{expected!r} not in {result.output}"
    return result.output


@pytest.mark.parametrize("name", list(BROKEN))
def test_validate_refuses_what_run_refuses(name: str, tmp_path: Path) -> None:
    config, files, expect = BROKEN[name]
    path = _write(tmp_path, config, files)
    _refused(["validate", str(path)], expect)
    result = runner.invoke(app, ["run", str(path), "--out", str(tmp_path / "run")])
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output


def test_validate_does_not_run_tool_code_unless_asked(tmp_path: Path) -> None:
    path = _write(tmp_path, _config(), {"tools.py": RAISES_AT_IMPORT})
    plain = runner.invoke(app, ["validate", str(path)])
    assert plain.exit_code == 0, plain.output  # the file parses and defines lookup; its code did not run
    _refused(["validate", str(path), "--import-handlers"], ["handler", "refuses to load"])
    run = runner.invoke(app, ["run", str(path), "--out", str(tmp_path / "run")])
    assert run.exit_code == 1 and "refuses to load" in run.output


def test_a_config_validate_accepts_runs(tmp_path: Path) -> None:
    path = _write(tmp_path, _config(), {})
    assert runner.invoke(app, ["validate", str(path), "--import-handlers"]).exit_code == 0
    result = runner.invoke(app, ["run", str(path), "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output

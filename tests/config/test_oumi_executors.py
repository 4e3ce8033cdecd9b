"""oumi's tool `executor:`s: oumi's calling convention, found through extra_deps.txt (next to the config
or named by OUMI_EXTRA_DEPS_FILE) or as a dotted path next to the config."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from envsim.config.models import EnvironmentConfig
from envsim.environments import EnvironmentSet
from envsim.errors import ConfigError
from envsim.messages import ToolCall
from envsim.testing import FunctionModel

EXECUTORS = """
from oumi.core.registry import register_tool_executor
from oumi.core.types.tool_call import ToolResult


@register_tool_executor("clinic.{suffix}.list")
def list_patients(arguments, state):
    return ToolResult(output={{"ids": [p["id"] for p in state["patients"]]}})


@register_tool_executor("clinic.{suffix}.add")
def add_patient(arguments, state):
    state["patients"].append({{"id": arguments["id"]}})  # a copy: only updated_state counts
    return ToolResult(output={{"ok": True}}, updated_state={{"patients": state["patients"]}})


def sneaky(arguments, state):
    return ToolResult(output={{}}, updated_state={{"patients": []}})


def shout(arguments):
    return arguments["text"].upper()
"""
ID_ARG = {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]}


def clinic(tmp_path: Path, suffix: str, *, deps: str = "extra_deps.txt") -> Path:
    (tmp_path / f"clinic_{suffix}.py").write_text(textwrap.dedent(EXECUTORS.format(suffix=suffix)), encoding="utf-8")
    (tmp_path / deps).write_text(f"clinic_{suffix}.py\n", encoding="utf-8")
    return tmp_path


def stateful(suffix: str, *tools: dict[str, Any]) -> EnvironmentConfig:
    return EnvironmentConfig.model_validate(
        {
            "id": "ehr",
            "env_type": "synthetic",
            "env_kwargs": {
                "tool_persona": "Tools run in Python.",
                "cache_by_input": False,
                "state_params": {"initial_state": {"patients": [{"id": "P1"}]}},
            },
            "tools": list(tools)
            or [
                {"id": "list", "name": "list", "description": "d", "executor": f"clinic.{suffix}.list"},
                {
                    "id": "add",
                    "name": "add",
                    "description": "d",
                    "read_only": False,
                    "parameters": ID_ARG,
                    "executor": f"clinic.{suffix}.add",
                },
            ],
        }
    )


async def step(envs: EnvironmentSet, name: str, args: dict[str, Any]) -> Any:
    return await envs.step(ToolCall.make(name, args, id="c1"))


async def test_stateful_executors_get_the_state_and_their_updates_are_patches(tmp_path: Path) -> None:
    base = clinic(tmp_path, "a")
    envs = EnvironmentSet.build([stateful("a")], base_dir=base)
    assert (await step(envs, "list", {})).output == {"ids": ["P1"]}
    added = await step(envs, "add", {"id": "P2"})
    assert added.ok and added.patch == [{"op": "add", "path": "/patients/1", "value": {"id": "P2"}}]
    assert (await step(envs, "list", {})).output == {"ids": ["P1", "P2"]}


async def test_a_read_only_executor_cannot_change_the_state(tmp_path: Path) -> None:
    base = clinic(tmp_path, "b")
    config = stateful("b", {"id": "wipe", "name": "wipe", "description": "d", "executor": "clinic_b.sneaky"})
    envs = EnvironmentSet.build([config], base_dir=base)
    result = await step(envs, "wipe", {})
    assert result.error is not None and "read-only" in result.error
    assert envs.states()["ehr"] == {"patients": [{"id": "P1"}]}


async def test_stateless_environments_mix_executor_and_simulated_tools(tmp_path: Path) -> None:
    base = clinic(tmp_path, "c")
    config = EnvironmentConfig.model_validate(
        {
            "id": "mixed",
            "env_type": "synthetic",
            "env_kwargs": {"tool_persona": "A backend."},
            "tools": [
                {
                    "id": "shout",
                    "name": "shout",
                    "description": "d",
                    "parameters": {"type": "object", "properties": {"text": {"type": "string"}}},
                    "executor": "clinic_c.shout",
                },
                {"id": "weather", "name": "weather", "description": "d"},
            ],
        }
    )
    model = FunctionModel(lambda request: '{"output": {"sky": "blue"}}')
    envs = EnvironmentSet.build([config], base_dir=base, model=model, cache_dir=tmp_path / "cache")
    assert [spec.name for spec in envs.tool_specs()] == ["shout", "weather"]
    assert (await step(envs, "shout", {"text": "hi"})).output == "HI"
    assert (await step(envs, "weather", {})).output == {"sky": "blue"}


async def test_oumi_extra_deps_file_variable_is_honoured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    deps_dir = tmp_path / "deps"
    deps_dir.mkdir()
    clinic(deps_dir, "d", deps="listed.txt")
    monkeypatch.chdir(deps_dir)  # oumi: lines are relative to the working directory
    monkeypatch.setenv("OUMI_EXTRA_DEPS_FILE", str(deps_dir / "listed.txt"))
    envs = EnvironmentSet.build([stateful("d")], base_dir=tmp_path / "elsewhere")
    assert (await step(envs, "list", {})).output == {"ids": ["P1"]}


def test_an_unknown_executor_says_where_it_looked(tmp_path: Path) -> None:
    config = stateful("e", {"id": "x", "name": "x", "description": "d", "executor": "nowhere.fn"})
    with pytest.raises(ConfigError, match="executor module 'nowhere' cannot be imported") as info:
        EnvironmentSet.build([config], base_dir=tmp_path)
    assert "extra_deps.txt" in (info.value.hint or "")


SLOW_AND_BROKEN = """
import time


def slow(arguments, state):
    time.sleep(3)
    return {"late": True}


def broken(arguments, state):
    return {"count": "not a number"}


def bump(arguments, state):
    return ToolResult(output={"n": state["n"] + 1}, updated_state={"n": state["n"] + 1})
"""


def mixed_stateful(tmp_path: Path) -> EnvironmentConfig:
    (tmp_path / "clinic_f.py").write_text(
        "from oumi.core.types.tool_call import ToolResult\n" + textwrap.dedent(SLOW_AND_BROKEN), encoding="utf-8"
    )
    (tmp_path / "handlers_f.py").write_text("def peek(state):\n    return {'n': state['n']}\n", encoding="utf-8")
    return EnvironmentConfig.model_validate(
        {
            "id": "counter",
            "type": "synthetic",
            "system_prompt": "A counter.",
            "timeout_s": 0.5,
            "state_params": {"initial_state": {"n": 0}},
            "tools": [
                {"id": "bump", "executor": "clinic_f.bump", "read_only": False},
                {"id": "peek", "handler": "handlers_f.py:peek", "read_only": True},
                {"id": "slow", "executor": "clinic_f.slow"},
                {
                    "id": "broken",
                    "executor": "clinic_f.broken",
                    "output_schema": {"type": "object", "properties": {"count": {"type": "integer"}}},
                },
                {"id": "forecast", "description": "A simulated tool."},
            ],
        }
    )


async def test_executors_handlers_and_simulated_tools_share_one_state_and_one_runner(tmp_path: Path) -> None:
    # oumi refuses simulated tools in a stateful environment with executors; envsim's hybrid takes them.
    model = FunctionModel(lambda request: '{"output": {"sky": "blue"}}')
    envs = EnvironmentSet.build([mixed_stateful(tmp_path)], base_dir=tmp_path, model=model, cache_dir=tmp_path / "c")
    assert [spec.name for spec in envs.tool_specs()] == ["bump", "peek", "slow", "broken", "forecast"]  # config order
    bumped = await step(envs, "bump", {})
    assert bumped.output == {"n": 1} and bumped.patch == [{"op": "replace", "path": "/n", "value": 1}]
    assert (await step(envs, "peek", {})).output == {"n": 1}  # the handler sees the executor's change
    assert (await step(envs, "forecast", {})).output == {"sky": "blue"}


async def test_executors_run_under_the_python_runners_timeout_and_contract(tmp_path: Path) -> None:
    envs = EnvironmentSet.build([mixed_stateful(tmp_path)], base_dir=tmp_path, model=FunctionModel(lambda r: "{}"))
    slow = await step(envs, "slow", {})
    assert slow.error is not None and "timed out" in slow.error and slow.error_kind == "infrastructure"
    broken = await step(envs, "broken", {})
    assert broken.error is not None and "output_schema" in broken.error and broken.error_kind == "infrastructure"
    assert envs.states()["counter"] == {"n": 0}

"""Hybrid environments: a synthetic environment whose tools with a `handler:` (envsim's calling
convention) or an `executor:` (oumi's) run as Python.

    - id: retail
      type: synthetic
      state_params: {initial_state_path: retail_state.json, state_schema: {...}}
      tools:
        - {id: get_order_details, handler: retail_tools.py:get_order_details, read_only: true}  # Python
        - {id: refund, executor: executors.refund, read_only: false, parameters: {...}}          # Python, oumi's
        - {id: apply_discount, description: ..., parameters: {...}}                             # simulated

Both kinds work on the one state of the environment and obey the same state rule; both record the same
kind of JSON Patch. The python side is executed by `PythonEnvironment` itself (argument binding,
`ToolResult`, output checks, its state tracking), through the one function below, so a python tool
behaves identically whether its environment is `python` or hybrid.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from envsim.config.models import EnvironmentConfig, ToolConfig
from envsim.environments.base import StepContext
from envsim.environments.python import PythonEnvironment, PythonTool, python_tools_from_config
from envsim.environments.state_store import StateStore
from envsim.environments.tool_environment import Outcome


def runs_as_python(tool: ToolConfig) -> bool:
    return bool(tool.handler or tool.executor)


def hybrid_python_tools(config: EnvironmentConfig, base_dir: Path | None) -> list[PythonTool]:
    """The python-run tools of a synthetic environment: those with a `handler` or an `executor` (resolved
    like the tools of a python environment)."""
    handled = [tool for tool in config.tools if runs_as_python(tool)]
    if not handled:
        return []
    subset = config.model_copy(update={"tools": handled, "module": None})
    # A tool without its own timeout_s gets the environment's, as in a python environment.
    return [
        tool if tool.timeout_s is not None else replace(tool, timeout_s=config.timeout_s)
        for tool in python_tools_from_config(subset, base_dir)
    ]


async def run_python_tool(
    environment_id: str,
    tool: PythonTool,
    arguments: dict[str, Any],
    store: StateStore | None,
    context: StepContext,
) -> Outcome:
    """Run one python tool over the hybrid environment's own state store and return what it proposes,
    under the state rule; the caller commits it. The call costs what the tool touches: the tool gets a
    tracked view of `store` (never a copy), exactly as in a `python` environment."""
    runner = PythonEnvironment(environment_id, [tool], {} if store is not None else None, None)
    runner._store = store  # the one state of the environment, shared, not copied
    return await runner._run(tool.spec, arguments, context)

"""Python environments: each tool is a Python callable (sync or async) over the environment state.

Convention: the callable gets the arguments as keyword arguments and, if it declares a parameter named
`state`, a deep copy of the state it may mutate. It returns the output, or `ToolResult(output, state)`
to replace the state. envsim diffs old and new state into the JSON Patch and applies the state rule;
an exception becomes an error result "ExceptionType: message" and changes nothing.
(`@tool(state_parameter="db")` renames the state parameter, for tools with an argument called `state`.)
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from envsim.config.models import EnvironmentConfig, ToolConfig
from envsim.environments.base import StepContext
from envsim.environments.handlers import load_callable, load_module
from envsim.environments.python_tools import RegisteredTool, ToolResult, registered_tools
from envsim.environments.signature import FunctionSignature, function_signature, tool_spec_from_function
from envsim.environments.state import propose_state, to_json_value
from envsim.environments.tool_environment import Outcome, ToolEnvironment
from envsim.errors import ConfigError
from envsim.messages import ToolSpec


@dataclass(frozen=True)
class PythonTool:
    spec: ToolSpec
    fn: Callable[..., Any]
    signature: FunctionSignature


class PythonEnvironment(ToolEnvironment):
    kind = "python"

    def __init__(
        self,
        id: str,
        tools: list[PythonTool],
        state: dict[str, Any] | None = None,
        state_schema: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(id, [t.spec for t in tools], state, state_schema)
        self.handlers = {t.spec.name: t for t in tools}
        if state is None:
            for t in tools:
                if t.signature.wants_state:
                    raise ConfigError(
                        f"tool {t.spec.name!r} of python environment {id!r} takes a `state` argument, "
                        "but the environment has no state",
                        hint="add state_params (state_schema and initial_state) to the environment",
                    )

    async def _run(self, tool: ToolSpec, arguments: dict[str, Any], context: StepContext) -> Outcome:
        handler = self.handlers[tool.name]
        try:
            kwargs = handler.signature.bind(arguments)
        except ValueError as exc:
            return Outcome(error=str(exc))
        working = copy.deepcopy(self._state) if handler.signature.wants_state else None
        if working is not None:
            kwargs[handler.signature.state_parameter] = working
        try:
            result = handler.fn(**kwargs)
            if inspect.isawaitable(result):
                result = await result
        except Exception as exc:  # the tool's own failure is the assistant's tool error, not a crash
            return Outcome(error=f"{type(exc).__name__}: {exc}")

        output, new_state = (result.output, result.state) if isinstance(result, ToolResult) else (result, None)
        if new_state is None:
            new_state = working  # changes made in place to the state argument (or none)
        if isinstance(output, BaseModel):
            output = output.model_dump(mode="json")
        try:
            output = to_json_value(output, "the tool's output")
        except ValueError as exc:
            return Outcome(error=str(exc), error_kind="infrastructure")
        # From here on a problem is the tool code breaking its own contract (output_schema, state rule):
        # no real backend would answer that, so it is an infrastructure error, never a training target.
        problem = self._output_problem(tool, output)
        if problem is not None:
            return Outcome(error=problem, error_kind="infrastructure")
        if self._state is None:
            if isinstance(result, ToolResult) and result.state is not None:
                return Outcome(
                    error=f"tool {tool.name!r} returned a state, but environment {self.id!r} has no state",
                    error_kind="infrastructure",
                )
            return Outcome(output=output)
        if new_state is None:
            return Outcome(output=output)
        transition = propose_state(self._state, new_state, self.state_schema, read_only=tool.read_only)
        if not transition.ok:
            return Outcome(error=transition.rejected, error_kind="infrastructure")
        return Outcome(output=output, patch=transition.patch, new_state=transition.state)


def python_tools_from_config(config: EnvironmentConfig, base_dir: Path | None) -> list[PythonTool]:
    """Resolve every tool of a python environment: explicit handlers, `@tool` registrations in the
    environment's `module`, or plain functions of that module named like the tool id."""
    module = load_module(config.module, base_dir) if config.module else None
    registry = registered_tools(module.__name__) if module is not None else {}
    if not config.tools:
        if not registry:
            where = f"module {config.module!r}" if config.module else "the environment (it has no `module`)"
            raise ConfigError(
                f"python environment {config.id!r} has no tools: none are listed and {where} registers none",
                hint="list tools with a `handler`, or decorate functions with @envsim.environments.tool "
                "in the module named by `module:`",
            )
        return [_from_registration(registered) for registered in registry.values()]
    return [_resolve(config, tool, module, registry, base_dir) for tool in config.tools]


def _from_registration(registered: RegisteredTool) -> PythonTool:
    return PythonTool(spec=registered.spec, fn=registered.fn, signature=function_signature(registered.fn))


def _resolve(
    config: EnvironmentConfig,
    tool: ToolConfig,
    module: Any,
    registry: dict[str, RegisteredTool],
    base_dir: Path | None,
) -> PythonTool:
    if tool.handler:
        fn = load_callable(tool.handler, base_dir)
        derived = tool_spec_from_function(fn, name=tool.id)
    elif tool.id in registry:
        fn = registry[tool.id].fn
        derived = registry[tool.id].spec
    elif module is not None and callable(getattr(module, tool.id, None)):
        fn = getattr(module, tool.id)
        derived = tool_spec_from_function(fn, name=tool.id)
    else:
        raise ConfigError(
            f"tool {tool.id!r} of python environment {config.id!r} has no handler",
            hint='set `handler: "package.module:function"` (or "file.py:function") on the tool, or define '
            f"a function {tool.id}() in the environment's `module`",
        )
    # Whatever the config states explicitly wins over what the function says about itself.
    explicit = tool.model_fields_set
    spec = ToolSpec(
        name=tool.id,
        description=tool.description if "description" in explicit else derived.description,
        parameters=tool.parameters if "parameters" in explicit else derived.parameters,
        output_schema=tool.output_schema if "output_schema" in explicit else derived.output_schema,
        read_only=tool.read_only if "read_only" in explicit else derived.read_only,
    )
    return PythonTool(spec=spec, fn=fn, signature=function_signature(fn))

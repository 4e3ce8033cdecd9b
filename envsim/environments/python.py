"""Python environments: each tool is a Python callable (sync or async) over the environment state.

Two calling conventions (envsim.environments.call_conventions). envsim's (`handler:`, `@tool`): the
callable gets the arguments as keyword arguments and, if it declares a parameter named `state`, a
tracked view of the state that behaves like a plain dict (envsim.environments.tracked_state): it may
mutate it, and the view records exactly what it touched as the JSON Patch, which the state rule then
checks incrementally. Read-only tools get a read-only view: a write is a rejected step. The tool may
instead return `ToolResult(output, state)` with a whole new state (diffed, O(state)). oumi's
(`executor:`): `fn(arguments=..., state=<a copy>)` returning `ToolResult(output, updated_state)`. An
exception becomes an error result "ExceptionType: message" and changes nothing.

Sync tools run on a worker thread, async ones on the loop; every call has a timeout (`timeout_s` of the
tool, else of the environment, else 30 s) after which the step is an infrastructure error and the state
is unchanged (envsim.environments.tool_runner).
(`@tool(state_parameter="db")` renames the state parameter, for tools with an argument called `state`.)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from envsim.config.models import EnvironmentConfig, ToolConfig
from envsim.environments.base import StepContext
from envsim.environments.call_conventions import CallConvention, OumiExecutorCall, SignatureCall
from envsim.environments.executors import resolve_executor
from envsim.environments.handlers import load_callable, load_module
from envsim.environments.overlay import to_plain
from envsim.environments.python_tools import RegisteredTool, registered_tools
from envsim.environments.signature import function_signature, tool_spec_from_function
from envsim.environments.state_store import Transition
from envsim.environments.state_tree import SharedState
from envsim.environments.tool_environment import Outcome, ToolEnvironment
from envsim.environments.tool_runner import DEFAULT_TIMEOUT_S, ToolTimeout, run_tool
from envsim.environments.tracked_state import READ_ONLY_MESSAGE, close_view
from envsim.errors import ConfigError
from envsim.messages import ToolSpec


@dataclass(frozen=True)
class PythonTool:
    spec: ToolSpec
    fn: Callable[..., Any]
    convention: CallConvention  # envsim's SignatureCall or oumi's OumiExecutorCall
    timeout_s: float | None = None  # None: the environment's


class PythonEnvironment(ToolEnvironment):
    kind = "python"

    def __init__(
        self,
        id: str,
        tools: list[PythonTool],
        state: dict[str, Any] | SharedState | None = None,
        state_schema: dict[str, Any] | None = None,
        *,
        initial_patch: list[dict[str, Any]] | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        super().__init__(id, [t.spec for t in tools], state, state_schema, initial_patch=initial_patch)
        self.handlers = {t.spec.name: t for t in tools}
        self.timeout_s = timeout_s
        if state is None:
            for t in tools:
                if t.convention.requires_state:
                    raise ConfigError(
                        f"tool {t.spec.name!r} of python environment {id!r} takes a `state` argument, "
                        "but the environment has no state",
                        hint="add state_params (state_schema and initial_state) to the environment",
                    )

    async def _run(self, tool: ToolSpec, arguments: dict[str, Any], context: StepContext) -> Outcome:
        handler = self.handlers[tool.name]
        convention = handler.convention
        try:
            kwargs = convention.bind(arguments)
        except ValueError as exc:
            return Outcome(error=str(exc))
        store = self._store
        view = store.view(read_only=tool.read_only) if store is not None and convention.state_access == "view" else None
        if view is not None:
            kwargs[convention.state_parameter] = view
        elif store is not None and convention.state_access == "copy":
            kwargs[convention.state_parameter] = store.materialize()  # a fresh copy (oumi's contract)
        timeout_s = handler.timeout_s if handler.timeout_s is not None else self.timeout_s
        try:
            result = await run_tool(handler.fn, kwargs, timeout_s=timeout_s)
        except ToolTimeout as exc:
            return Outcome(
                error=f"tool {tool.name!r} timed out: {exc}; the state is unchanged", error_kind="infrastructure"
            )
        except Exception as exc:  # the tool's own failure is the assistant's tool error, not a crash
            if view is not None and view._ctx.violation is not None:
                return Outcome(error=READ_ONLY_MESSAGE)
            return Outcome(error=f"{type(exc).__name__}: {exc}")
        finally:
            if view is not None:
                close_view(view)

        output, returned_state = convention.read(result)
        if isinstance(output, BaseModel):
            output = output.model_dump(mode="json")
        try:
            output = to_plain(output)  # before committing: the output may be (part of) the view
        except (TypeError, ValueError, RecursionError) as exc:
            return Outcome(error=f"the tool's output is not JSON-serializable ({exc})", error_kind="infrastructure")
        # From here on a problem is the tool code breaking its own contract (output_schema, state rule):
        # no real backend would answer that, so it is an infrastructure error, never a training target.
        problem = self._output_problem(tool, output)
        if problem is not None:
            return Outcome(error=problem, error_kind="infrastructure")
        if store is None:
            if returned_state is not None:
                return Outcome(
                    error=f"tool {tool.name!r} returned a state, but environment {self.id!r} has no state",
                    error_kind="infrastructure",
                )
            return Outcome(output=output)
        transition: Transition | None = None
        if returned_state is not None and returned_state is not view:
            transition = store.propose_state(returned_state, read_only=tool.read_only)
        elif view is not None and view._ctx.violation is not None:
            return Outcome(error=READ_ONLY_MESSAGE)  # a read-only tool tried to write (and caught the error)
        elif view is not None and not tool.read_only:
            transition = store.propose_view(view, read_only=False)  # read-only views: no diff, no validation
        if transition is None:
            return Outcome(output=output)
        if not transition.ok:
            return Outcome(error=transition.rejected, error_kind="infrastructure")
        return Outcome(output=output, patch=transition.patch, new_state=transition.state, transition=transition)


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
    return PythonTool(
        spec=registered.spec, fn=registered.fn, convention=SignatureCall(function_signature(registered.fn))
    )


def _resolve(
    config: EnvironmentConfig,
    tool: ToolConfig,
    module: Any,
    registry: dict[str, RegisteredTool],
    base_dir: Path | None,
) -> PythonTool:
    if tool.executor:  # oumi's convention: the config states the contract, the function takes `arguments`
        spec = ToolSpec(
            name=tool.id,
            description=tool.description,
            parameters=tool.parameters,
            output_schema=tool.output_schema,
            read_only=tool.read_only,
        )
        fn = resolve_executor(tool.executor, tool.id, base_dir)
        return PythonTool(spec=spec, fn=fn, convention=OumiExecutorCall(), timeout_s=tool.timeout_s)
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
    return PythonTool(spec=spec, fn=fn, convention=SignatureCall(function_signature(fn)), timeout_s=tool.timeout_s)

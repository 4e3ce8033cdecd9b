"""What authors of python environments write: the `@tool` decorator and `ToolResult`.

    from envsim.environments import ToolResult, tool

    @tool(read_only=True)
    def get_order(order_id: str, state: dict) -> dict:
        '''Look up an order.

        Args:
            order_id: The order's id, e.g. "#W1234".
        '''
        return state["orders"][order_id]

A python environment whose `module:` names this module gets every tool registered in it. The registry
is keyed by module, then tool name, so two catalogs may both define a `get_order`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, overload

from envsim.environments.signature import STATE_PARAMETER_ATTRIBUTE, tool_spec_from_function
from envsim.messages import ToolSpec

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class ToolResult:
    """Return this to replace the state explicitly: `ToolResult(output=..., state=new_state)`.

    Returning a plain value instead means "this is the output"; changes made to the `state` argument
    (a deep copy) are the state change."""

    output: Any = None
    state: dict[str, Any] | None = None


@dataclass(frozen=True)
class RegisteredTool:
    fn: Callable[..., Any]
    spec: ToolSpec
    module: str


_REGISTRY: dict[str, dict[str, RegisteredTool]] = {}


@overload
def tool(fn: F, /) -> F: ...


@overload
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    read_only: bool = False,
    parameters: dict[str, Any] | None = None,
    output_schema: dict[str, Any] | None = None,
    state_parameter: str | None = None,
) -> Callable[[F], F]: ...


def tool(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    read_only: bool = False,
    parameters: dict[str, Any] | None = None,
    output_schema: dict[str, Any] | None = None,
    state_parameter: str | None = None,
) -> Any:
    """Register a function as a tool of its module (usable bare, `@tool`, or configured, `@tool(...)`).

    `state_parameter`: the parameter that receives the environment state, when the tool needs `state`
    as an argument name of its own. The function is returned unchanged (only marked with that name), so
    it stays directly callable in the author's own tests."""

    def register(function: F) -> F:
        if state_parameter is not None:
            setattr(function, STATE_PARAMETER_ATTRIBUTE, state_parameter)
        spec = tool_spec_from_function(
            function, name=name, description=description, read_only=read_only, output_schema=output_schema
        )
        if parameters is not None:
            spec = spec.model_copy(update={"parameters": parameters})
        module = getattr(function, "__module__", "") or ""
        # Re-registering in the same module (a reload) replaces the earlier definition.
        _REGISTRY.setdefault(module, {})[spec.name] = RegisteredTool(fn=function, spec=spec, module=module)
        return function

    return register(fn) if fn is not None else register


def registered_tools(module: str) -> dict[str, RegisteredTool]:
    """Tools registered by `module` (its `__name__`), in definition order."""
    return dict(_REGISTRY.get(module, {}))

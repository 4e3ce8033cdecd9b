"""How a tool's Python function is called. One runner (`PythonEnvironment`: worker thread, timeout,
output checks, the state rule) serves two calling conventions:

- `SignatureCall`, envsim's (`handler:` and `@tool` functions): the tool-call arguments bound to the
  function's own parameters; a parameter named `state` (or `@tool(state_parameter=...)`) gets a tracked
  view of the state, whose changes are the step's patch (O(change)); it returns a value or
  `ToolResult(output, state)`.
- `OumiExecutorCall`, oumi's (`executor:`): `fn(arguments=<dict>)`, plus `state=<a deep copy>` when the
  environment has a state; it returns oumi's `ToolResult(output, updated_state)` or a value, and only a
  returned `updated_state` changes the state (oumi's contract: edits of the copy alone do not).

Database executors (`fn(arguments=..., context=<sqlite3.Connection>)`) run inside the database
environment's transaction instead, and read their result with `read_oumi_result`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

from envsim.environments.executors import is_tool_result
from envsim.environments.python_tools import ToolResult
from envsim.environments.signature import FunctionSignature

StateAccess = Literal["view", "copy", "none"]


class CallConvention(Protocol):
    @property
    def state_access(self) -> StateAccess:
        """How the function gets the state: a tracked view, a deep copy, or not at all."""

    @property
    def state_parameter(self) -> str: ...

    @property
    def requires_state(self) -> bool:
        """True: the function cannot run in an environment without state (a config error)."""

    def bind(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """The keyword arguments (the state added by the runner); ValueError when they do not fit."""

    def read(self, result: Any) -> tuple[Any, Any | None]:
        """(output, the whole new state or None) from what the function returned."""


@dataclass(frozen=True)
class SignatureCall:
    signature: FunctionSignature

    @property
    def state_access(self) -> StateAccess:
        return "view" if self.signature.wants_state else "none"

    @property
    def state_parameter(self) -> str:
        return self.signature.state_parameter

    @property
    def requires_state(self) -> bool:
        return self.signature.wants_state

    def bind(self, arguments: dict[str, Any]) -> dict[str, Any]:
        return self.signature.bind(arguments)

    def read(self, result: Any) -> tuple[Any, Any | None]:
        return (result.output, result.state) if isinstance(result, ToolResult) else (result, None)


@dataclass(frozen=True)
class OumiExecutorCall:
    state_access: StateAccess = "copy"  # given only when the environment has a state
    state_parameter: str = "state"
    requires_state: bool = False

    def bind(self, arguments: dict[str, Any]) -> dict[str, Any]:
        return {"arguments": dict(arguments)}

    def read(self, result: Any) -> tuple[Any, Any | None]:
        return read_oumi_result(result)


def read_oumi_result(result: Any) -> tuple[Any, Any | None]:
    """(output, updated_state) of an oumi executor's return value (a plain value: the output)."""
    return (result.output, result.updated_state) if is_tool_result(result) else (result, None)

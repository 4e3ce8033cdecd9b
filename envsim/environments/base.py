"""The environment interface: `await env.step(tool_call) -> StepResult`, the same for every kind.

Every environment instance belongs to one conversation (fresh state); a catalog builds instances from
reusable definitions. Concrete kinds: deterministic, synthetic (stateless / stateful), python.
"""

from __future__ import annotations

import abc
import copy
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from envsim.messages import Message, ToolCall, ToolSpec
from envsim.models.base import Usage

if TYPE_CHECKING:
    from envsim.environments.state_origin import StateOrigin

ErrorKind = Literal["tool", "infrastructure"]


class StepResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    environment: str
    tool: str
    call_id: str
    arguments: Any = None  # parsed arguments when they parsed, else the raw string
    output: Any = None
    error: str | None = None
    # Who produced `error`: "tool" (what the real backend would answer: not found, a refusal, bad
    # arguments) or "infrastructure" (envsim or the model layer failed: the simulator gave no valid reply,
    # a transport error, a timeout). Infrastructure errors never reach a training set (DESIGN.md).
    error_kind: ErrorKind | None = None
    patch: list[dict[str, Any]] = Field(default_factory=list)  # RFC 6902; empty if no change
    state_hash: str | None = None  # sha256 of canonical state after the step (None: stateless env)
    cached: bool = False
    usage: Usage | None = None
    attempts: int = 1  # model attempts used (synthetic kinds)
    # JSON Pointers of the state a simulated tool was shown ("" = the whole state); None: not simulated
    state_view: list[str] | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class StepContext(BaseModel):
    """What the caller knows about the conversation; synthetic tools may use it to stay consistent."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    episode_id: str | None = None
    turn: int | None = None
    # The conversation so far (system/user/assistant/tool messages), for synthetic stateless tools
    # configured to see it.
    history: list[Message] = Field(default_factory=list)


class Environment(abc.ABC):
    """One conversation's instance of an environment definition."""

    id: str
    kind: str

    def __init__(self, id: str, tools: list[ToolSpec], state: dict[str, Any] | None = None) -> None:
        self.id = id
        self.tools: dict[str, ToolSpec] = {t.name: t for t in tools}
        # Subclasses of ToolEnvironment keep a StateStore instead (O(1) start); this copy is for others.
        self._state: dict[str, Any] | None = copy.deepcopy(state) if state is not None else None

    @property
    def stateful(self) -> bool:
        return self._state is not None

    @property
    def state(self) -> dict[str, Any] | None:
        """A deep copy: callers can never change state except through `step`."""
        return copy.deepcopy(self._state)

    @property
    def state_origin(self) -> StateOrigin | None:
        """The shared base state and the patch this instance started from, for kinds that keep one
        (then initial and final states cost nothing to take); None: the state is a private copy."""
        return None

    @property
    def committed_state(self) -> dict[str, Any] | None:
        """The current state without copying it where the kind can (read-only: never change it); a
        copy otherwise."""
        return self.state

    def tool_specs(self) -> list[ToolSpec]:
        return list(self.tools.values())

    @abc.abstractmethod
    async def step(self, call: ToolCall, context: StepContext | None = None) -> StepResult: ...

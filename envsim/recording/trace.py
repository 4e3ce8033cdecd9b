"""The recorded episode: one JSON line in `traces.jsonl`, loading back into these same typed objects.

Invariant the recorder guarantees: for every environment, applying the recorded patches of its steps,
in order, to `initial_state` gives `final_state`. In a run directory, large initial states are recorded by
reference (`state_refs`, see envsim.recording.state_store) and the final state is recomputed on loading.

A trace fresh from an episode holds its states without copies: the shared base state (or an overlay of
the scenario's override over it) and the environment's committed overlay, read-only, with
`state_origins` saying which shared base each came from, so the recorder stores the base once per run
instead of serializing it per episode. Dumping such a trace (`model_dump`) writes plain JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    FieldSerializationInfo,
    PrivateAttr,
    SerializerFunctionWrapHandler,
    field_serializer,
    model_serializer,
)

from envsim.environments.overlay import OverlayDict, to_plain
from envsim.messages import Message, ToolSpec
from envsim.models.base import Usage

if TYPE_CHECKING:
    from envsim.environments.state_origin import StateOrigin


class PlanTurn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    turn: int  # 1-based
    instruction: str  # what the user should do or say in this turn


class Plan(BaseModel):
    model_config = ConfigDict(extra="forbid")

    num_turns: int
    turns: list[PlanTurn]
    notes: str | None = None
    # The planner gave this many turns instead of num_turns; the plan was truncated or padded to fit.
    adjusted_from: int | None = None

    @model_serializer(mode="wrap")
    def _omit_unadjusted(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # Written only when set: plans that fit keep the bytes (traces, the seed's dataset) they had.
        data = handler(self)
        if data.get("adjusted_from") is None:
            data.pop("adjusted_from", None)
        return data


class TerminationReason(StrEnum):
    PLANNED_TURNS = "planned_turns"  # the plan's number of turns was reached
    USER_STOP = "user_stop"  # the user simulator emitted the stop marker
    MAX_TURNS = "max_turns"  # the drawn number of turns reached without a plan
    TOOL_ROUND_LIMIT = "tool_round_limit"  # the assistant kept calling tools; final answer forced, then stopped
    MODEL_ERROR = "model_error"  # a model call failed after retries
    ENVIRONMENT_ERROR = "environment_error"  # an environment failed in a way the assistant cannot see
    SCRIPT_END = "script_end"  # a scripted scenario was replayed to its end
    ATTRIBUTES_ONLY = "attributes_only"  # the config has no conversation: the sample is its attributes
    GENERATED = "generated"  # an example written whole by a generator (topics' DataSetGenerator)
    CANCELLED = "cancelled"
    GENERATED_PAIR = "generated_pair"  # an input-response pair generated from seeds (`envsim pairs`)


class EpisodeStatus(StrEnum):
    SUCCESS = "success"
    FAILED = "failed"


class StepRecord(BaseModel):
    """One environment step, as the assistant's tool call ran through `Environment.step`."""

    model_config = ConfigDict(extra="forbid")

    turn: int
    round: int = 1  # tool-call round within the assistant turn
    environment: str
    tool: str
    call_id: str
    arguments: Any = None
    output: Any = None
    error: str | None = None
    error_kind: Literal["tool", "infrastructure"] | None = None  # see envsim.environments.base.StepResult
    patch: list[dict[str, Any]] = Field(default_factory=list)
    state_hash: str | None = None
    cached: bool = False
    latency_s: float = 0.0
    usage: Usage | None = None
    # JSON Pointers of the state the simulating model was shown ("" = all of it); None: not a simulated step
    state_view: list[str] | None = None


class StateRef(BaseModel):
    """An initial state recorded by reference: its canonical JSON in the run directory, named by its sha256,
    plus the JSON Patch a scenario's override applies over it (the initial state is the file + `patch`)."""

    model_config = ConfigDict(extra="forbid")

    sha256: str  # of the file's bytes (the state's canonical JSON)
    path: str  # relative to the run directory, e.g. states/<sha256>.json
    bytes: int
    patch: list[dict[str, Any]] = Field(default_factory=list)

    @model_serializer(mode="wrap")
    def _omit_empty_patch(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data = handler(self)
        if not data.get("patch"):  # no override: the bytes references had before overrides were patches
            data.pop("patch", None)
        return data


class CheckResult(BaseModel):
    """One expectation of a scenario, evaluated on a finished episode."""

    model_config = ConfigDict(extra="forbid")

    kind: str  # state_equals | state_contains | state_absent | state_hash | tool_called | ...
    passed: bool
    reason: str


class Trace(BaseModel):
    model_config = ConfigDict(extra="forbid")

    episode_id: str
    scenario_id: str | None = None
    sample_index: int = 0
    trial: int = 0
    seed: int
    attributes: dict[str, Any] = Field(default_factory=dict)
    conversation_id: str | None = None  # the multiturn attribute id
    plan: Plan | None = None
    plan_error: str | None = None  # why there is no plan, when planning failed
    messages: list[Message] = Field(default_factory=list)  # starts with the output system prompt
    tools: list[ToolSpec] = Field(default_factory=list)
    steps: list[StepRecord] = Field(default_factory=list)
    initial_state: dict[str, Any] = Field(default_factory=dict)  # environment id -> state
    final_state: dict[str, Any] = Field(default_factory=dict)
    # environment id -> where its initial state is, for states too large to inline (their final state is
    # then not written either: initial + patches recompute it). Loaded traces have both states filled in.
    state_refs: dict[str, StateRef] = Field(default_factory=dict)
    status: EpisodeStatus = EpisodeStatus.SUCCESS
    termination: TerminationReason
    error: str | None = None
    turns: int = 0
    usage: dict[str, Usage] = Field(default_factory=dict)  # role -> usage
    wall_time_s: float = 0.0
    checks: list[CheckResult] | None = None  # scenario expectations, when evaluated
    # Generated attributes whose reply was cut off at the token limit (kept: on_truncation is "flag").
    truncated_attributes: list[str] = Field(default_factory=list)

    @model_serializer(mode="wrap")
    def _omit_untruncated(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # Written only when set: traces without cut-off attributes keep the bytes they had.
        data = handler(self)
        if not data.get("truncated_attributes"):
            data.pop("truncated_attributes", None)
        return data

    # environment id -> the shared base state its states came from (a live trace, before recording)
    _state_origins: dict[str, StateOrigin] = PrivateAttr(default_factory=dict)

    @property
    def state_origins(self) -> Mapping[str, StateOrigin]:
        """Per environment, the shared base state and override patch its initial state is, when the trace
        comes straight from an episode (empty for loaded traces): what lets the recorder store the base
        once per run and write only a reference."""
        return self._state_origins

    def set_state_origins(self, origins: Mapping[str, StateOrigin]) -> None:
        self._state_origins = dict(origins)

    @field_serializer("initial_state", "final_state", mode="wrap")
    def _plain_states(
        self, states: dict[str, Any], handler: SerializerFunctionWrapHandler, info: FieldSerializationInfo
    ) -> Any:
        # Live states are overlays (dict subclasses whose entries pydantic's serializer cannot see).
        excluded = info.exclude or ()
        return handler(
            {env: to_plain(v) if isinstance(v, OverlayDict) and env not in excluded else v for env, v in states.items()}
        )

    def __eq__(self, other: object) -> bool:
        # What was recorded, not how the states are held (live origins vs states loaded from a file).
        if not isinstance(other, Trace):
            return NotImplemented
        return self.__dict__ == other.__dict__

    __hash__ = None  # type: ignore[assignment]

    @property
    def total_usage(self) -> Usage:
        total = Usage()
        for usage in self.usage.values():
            total = total + usage
        return total

"""One conversation from start to recorded Trace: attributes -> environments -> plan -> turns.

`simulate_episode(spec, deps)` never raises for a problem confined to this conversation: a model that
fails after retries, an environment that breaks, a planner that cannot plan. Those become a Trace with
`status=failed` (or a trace without a plan) so the run goes on. It does raise for run-stopping errors
(`CircuitOpenError`, `ModelAuthError`, `RequestRefusedError`), in conversations and attribute-only
samples alike, for configuration errors that would hit every episode, and on cancellation.

Determinism: nothing random or time-based is recorded except the timing fields (`wall_time_s`,
`StepRecord.latency_s`); the same spec with the same (cached) model replies gives the same Trace.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from envsim.config.models import MultiTurnAttribute
from envsim.environments.state_origin import StateOrigin
from envsim.errors import ConfigError, EnvsimError, ModelError, OutputValidationError
from envsim.messages import Message, ToolSpec
from envsim.models.base import ChatModel, GenerationParams, Usage
from envsim.recording.trace import EpisodeStatus, Plan, TerminationReason, Trace
from envsim.simulation.assistant import AssistantAgent, Transcript, simulation_system_prompt
from envsim.simulation.grounding import PLANNER_GROUNDING, USER_GROUNDING
from envsim.simulation.model_calls import RoleCaller, RoleModelError, describe_error
from envsim.simulation.planner import Planner, draw_num_turns
from envsim.simulation.runtime_placeholders import TurnText, target_turns
from envsim.simulation.tool_execution import RUN_STOPPING_ERRORS, EnvironmentStepError, ToolRouter
from envsim.simulation.user import UserSimulator


def episode_id_for(sample_index: int, trial: int = 0) -> str:
    """Stable, sortable ids: `ep-000042`, and `ep-000042-t1` for further trials of the same sample."""
    return f"ep-{sample_index:06d}" + (f"-t{trial}" if trial else "")


@dataclass(frozen=True)
class EpisodeSpec:
    """The concrete inputs of one conversation. `attributes` and `initial_states` are given by
    scenario catalogs; for sampled runs the attribute source computes attributes from index and seed."""

    episode_id: str
    seed: int
    sample_index: int = 0
    trial: int = 0
    scenario_id: str | None = None
    attributes: Mapping[str, Any] | None = None
    initial_states: Mapping[str, Any] | None = None  # environment id -> state override


class EpisodeAttributes(Protocol):
    """One sample's attributes: JSON-able values for the trace and safe template rendering."""

    @property
    def values(self) -> dict[str, Any]: ...

    def render(self, template: str) -> str: ...


class EpisodeEnvironments(ToolRouter, Protocol):
    """Fresh environment instances for one conversation (an `EnvironmentSet`).

    The states are taken without copies (the trace holds them read-only, see envsim.recording.trace):
    `initial_states` right after building, `committed_states` at the end, and `state_origins` says which
    shared base state each one started from, so neither costs what the state weighs."""

    def tool_specs(self, tools: list[str] | None = None) -> list[ToolSpec]: ...

    def initial_states(self) -> dict[str, Any]: ...

    def committed_states(self) -> dict[str, Any]: ...

    def state_origins(self) -> Mapping[str, StateOrigin]: ...


AttributeSource = Callable[[EpisodeSpec], Awaitable[EpisodeAttributes]]
EnvironmentFactory = Callable[[Mapping[str, Any] | None], "EpisodeEnvironments | Awaitable[EpisodeEnvironments]"]


@dataclass
class EpisodeDeps:
    """Everything an episode needs that is shared by the whole run."""

    conversation: MultiTurnAttribute | None  # None: attributes only (the seed's non-conversational datasets)
    models: Mapping[str, ChatModel]  # role -> model: planner, user, assistant
    environments: EnvironmentFactory  # initial-state overrides -> fresh environments
    attributes: AttributeSource
    params: Mapping[str, GenerationParams] = field(default_factory=dict)  # role -> generation params
    max_validation_attempts: int = 3
    use_planner: bool = True
    # The model layer's own per-episode accounting (e.g. `RoleModels.tracker.pop_episode`): when given,
    # it is what the trace records, since it also sees calls the roles cannot (failed structured-output
    # attempts, synthetic tools, generated attributes). Otherwise the roles' replies are summed.
    usage_of: Callable[[str], Mapping[str, Usage]] | None = None
    # oumi's grounding: (sample index, episode seed) -> the conversation's facts as text ('' = none)
    grounding: Callable[[int, int], str] | None = None


def role_instruction(conversation: MultiTurnAttribute, role: str) -> str:
    template = conversation.role_instruction_messages.get(role)
    if not template:
        raise ConfigError(
            f"multiturn attribute {conversation.id!r} has no {role} instruction",
            location=f"strategy_params.multiturn_attributes[id={conversation.id}].role_instruction_messages",
            hint=f"add a {role}: entry describing how the {role.lower()} should behave",
        )
    return template


@dataclass
class _EpisodeState:
    """What is known so far; turned into a Trace whether the episode ends well or not."""

    spec: EpisodeSpec
    conversation_id: str | None
    started: float
    attributes: dict[str, Any] = field(default_factory=dict)
    transcript: Transcript = field(default_factory=Transcript)
    tools: list[ToolSpec] = field(default_factory=list)
    plan: Plan | None = None
    plan_error: str | None = None
    initial_state: dict[str, Any] = field(default_factory=dict)
    truncated_attributes: list[str] = field(default_factory=list)
    origins: Mapping[str, StateOrigin] = field(default_factory=dict)
    envs: EpisodeEnvironments | None = None
    turns: int = 0

    def trace(
        self,
        caller: RoleCaller,
        termination: TerminationReason,
        error: str | None = None,
        usage_of: Callable[[str], Mapping[str, Usage]] | None = None,
    ) -> Trace:
        failed = error is not None
        usage = dict(usage_of(self.spec.episode_id)) if usage_of is not None else caller.usage
        trace = Trace(
            episode_id=self.spec.episode_id,
            scenario_id=self.spec.scenario_id,
            sample_index=self.spec.sample_index,
            trial=self.spec.trial,
            seed=self.spec.seed,
            attributes=self.attributes,
            conversation_id=self.conversation_id,
            plan=self.plan,
            plan_error=self.plan_error,
            messages=self.transcript.messages,
            tools=self.tools,
            steps=self.transcript.steps,
            initial_state=self.initial_state,
            final_state=self.envs.committed_states() if self.envs is not None else {},
            status=EpisodeStatus.FAILED if failed else EpisodeStatus.SUCCESS,
            termination=termination,
            error=error,
            turns=self.turns,
            usage=dict(sorted(usage.items())),
            wall_time_s=time.perf_counter() - self.started,
            truncated_attributes=self.truncated_attributes,
        )
        trace.set_state_origins(self.origins)
        return trace


async def simulate_episode(spec: EpisodeSpec, deps: EpisodeDeps) -> Trace:
    """Simulate one conversation and return its Trace (see the module docstring for what raises)."""
    conversation = deps.conversation
    state = _EpisodeState(
        spec=spec, conversation_id=conversation.id if conversation else None, started=time.perf_counter()
    )
    caller = RoleCaller(deps.models, episode_id=spec.episode_id, params=deps.params)
    error: str | None = None
    try:
        if conversation is None:
            await _sample_into(state, deps, spec, caller)
            termination = TerminationReason.ATTRIBUTES_ONLY
        else:
            termination = await _run(spec, deps, state, caller)
    except RoleModelError as exc:
        termination, error = TerminationReason.MODEL_ERROR, exc.render()
    except EnvironmentStepError as exc:
        termination, error = TerminationReason.ENVIRONMENT_ERROR, exc.render()
    if termination == TerminationReason.TOOL_ROUND_LIMIT and conversation is not None:
        error = (
            f"turn {state.turns}: the assistant was still calling tools after {conversation.max_tool_rounds} "
            "tool round(s) and a request for a final answer without tools (raise max_tool_rounds if the task "
            "needs more calls)"
        )
    return state.trace(caller, termination, error, deps.usage_of)


async def _build_environments(deps: EpisodeDeps, spec: EpisodeSpec) -> EpisodeEnvironments:
    try:
        built = deps.environments(spec.initial_states)
        return await built if inspect.isawaitable(built) else built
    except EnvsimError as exc:
        where = f" for scenario {spec.scenario_id!r}" if spec.scenario_id else ""
        raise EnvironmentStepError(
            f"cannot build the environments{where}: {exc.render()}", environment=None, tool="", call_id=""
        ) from exc


async def _sample_attributes(deps: EpisodeDeps, spec: EpisodeSpec) -> EpisodeAttributes:
    try:
        return await deps.attributes(spec)
    except RUN_STOPPING_ERRORS:
        raise  # an open breaker or a refused parameter stops the run; this episode stays unrecorded
    except (ModelError, OutputValidationError) as exc:
        raise RoleModelError("attribute", describe_error(exc)) from exc


async def _sample_into(
    state: _EpisodeState, deps: EpisodeDeps, spec: EpisodeSpec, caller: RoleCaller
) -> EpisodeAttributes:
    attributes = await _sample_attributes(deps, spec)
    state.attributes = attributes.values
    state.truncated_attributes = list(getattr(attributes, "truncated", ()))
    # Generated attributes report their model usage (AttributePipeline's SampleAttributes.usage).
    attribute_usage = getattr(attributes, "usage", None)
    if isinstance(attribute_usage, Usage) and attribute_usage != Usage():
        caller.add_usage("attribute", attribute_usage)
    return attributes


async def _run(spec: EpisodeSpec, deps: EpisodeDeps, state: _EpisodeState, caller: RoleCaller) -> TerminationReason:
    conversation = deps.conversation
    assert conversation is not None  # simulate_episode handles the attributes-only case
    attributes = await _sample_into(state, deps, spec, caller)
    num_turns = draw_num_turns(spec.seed, conversation.min_turns, conversation.max_turns)
    facts = deps.grounding(spec.sample_index, spec.seed) if deps.grounding is not None else ""
    runtime = {"target_turns": str(target_turns(num_turns)), "grounding_facts": facts}

    def fill(template: str) -> TurnText:  # {current_turn} is filled per turn by the roles
        return TurnText.render(template, runtime, attributes.render)

    user_instruction = fill(role_instruction(conversation, "USER"))
    assistant_instruction = fill(role_instruction(conversation, "ASSISTANT"))
    output_prompt = fill(conversation.output_system_prompt).once if conversation.output_system_prompt else ""
    planner_extra = fill(conversation.conversation_planner).once if conversation.conversation_planner else None
    if facts:
        user_instruction += f"\n\n{USER_GROUNDING.format(facts=facts)}"
        planner_extra = "\n\n".join(p for p in (planner_extra, PLANNER_GROUNDING.format(facts=facts)) if p)
    topic = getattr(attributes, "topic_hint", None)  # a topic path drawn for this sample (input_topics)
    if topic:
        user_instruction += f"\n\nThe topic of this conversation: {topic}."
        planner_extra = (planner_extra + "\n\n" if planner_extra else "") + f"The conversation is about: {topic}."

    envs = await _build_environments(deps, spec)
    state.envs = envs
    state.initial_state = envs.initial_states()
    state.origins = envs.state_origins()
    state.tools = envs.tool_specs(list(conversation.available_tools) or None)
    if output_prompt.strip():
        state.transcript.messages.append(Message.system(output_prompt.strip()))

    if deps.use_planner:
        outcome = await Planner(caller, max_validation_attempts=deps.max_validation_attempts).plan(
            num_turns=num_turns,
            user_instructions=user_instruction.once,
            assistant_instructions=assistant_instruction.once,
            planner_instructions=planner_extra,
            tools=state.tools,
        )
        state.plan, state.plan_error = outcome.plan, outcome.error

    user = UserSimulator(caller, instruction=user_instruction, stop_marker=conversation.user_stop_marker)
    assistant = AssistantAgent(
        caller,
        envs,
        system_prompt=simulation_system_prompt(output_prompt, assistant_instruction),
        tools=state.tools,
        max_tool_rounds=conversation.max_tool_rounds,
        reasoning=conversation.reasoning.style if conversation.reasoning else None,
    )
    # Without a plan (dropped or not asked for) the conversation still has its drawn length.
    return await _converse(state, user, assistant, state.plan, num_turns)


async def _converse(
    state: _EpisodeState, user: UserSimulator, assistant: AssistantAgent, plan: Plan | None, max_turns: int
) -> TerminationReason:
    """Alternate user and assistant. A user stop with a last message still gets the assistant's reply,
    so a recorded conversation never ends on an unanswered user message."""
    limit = plan.num_turns if plan is not None else max_turns
    steps: Sequence[str | None] = [t.instruction for t in plan.turns] if plan is not None else [None] * limit
    transcript = state.transcript
    for turn in range(1, limit + 1):
        reply = await user.next_message(
            transcript.dialogue(), turn=turn, plan_step=steps[turn - 1], num_turns=plan.num_turns if plan else None
        )
        if reply.text is None:
            return TerminationReason.USER_STOP
        transcript.messages.append(Message.user(reply.text))
        state.turns = turn
        result = await assistant.take_turn(transcript, turn=turn)
        if not result.answered:
            return TerminationReason.TOOL_ROUND_LIMIT
        if reply.stop:
            return TerminationReason.USER_STOP
    return TerminationReason.PLANNED_TURNS if plan is not None else TerminationReason.MAX_TURNS

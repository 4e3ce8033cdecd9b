"""The assistant: a model with native tool calling over the tools of its available environments.

What the assistant model sees vs. what is recorded
--------------------------------------------------
The model is prompted with `simulation_system_prompt` = the rendered `output_system_prompt` followed by
the rendered ASSISTANT role instruction. The ASSISTANT instruction is simulation-only guidance (how to
role-play this sample: persona details, hidden goals, sampled attributes) and must not leak into a
training set, so the *recorded* conversation (`Trace.messages`) starts with a system message holding
only the rendered `output_system_prompt` (no system message at all when it is empty). Everything after
it (user, assistant and tool messages) is recorded exactly as exchanged. oumi's `{current_turn}` in the
ASSISTANT instruction is filled for each reply (2, 4, 6, ...; the same through the reply's tool rounds).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from envsim.environments.base import StepContext
from envsim.messages import Message, ToolSpec
from envsim.models.base import ModelRequest
from envsim.recording.trace import StepRecord
from envsim.simulation.model_calls import RoleCaller, RoleModelError
from envsim.simulation.reasoning import ReasoningStyle, reasoning_instruction, split_reasoning
from envsim.simulation.runtime_placeholders import TurnText, assistant_turn_number
from envsim.simulation.tool_execution import ToolRouter, execute_tool_calls

FINAL_ANSWER_NUDGE = (
    "(You have used the maximum number of tool calls for this reply. Answer the user now in plain text "
    "with what you have; do not call any more tools.)"
)


def simulation_system_prompt(output_system_prompt: str | None, assistant_instruction: TurnText | str) -> TurnText:
    parts = [TurnText.plain(output_system_prompt or "").strip(), TurnText.of(assistant_instruction).strip()]
    return TurnText.join("\n\n", parts)


@dataclass
class Transcript:
    """The recorded conversation, appended to as it happens (a failed episode keeps what it had)."""

    messages: list[Message] = field(default_factory=list)
    steps: list[StepRecord] = field(default_factory=list)

    def dialogue(self) -> list[Message]:
        """Everything but the recorded system prompt."""
        return [m for m in self.messages if m.role != "system"]


@dataclass(frozen=True)
class AssistantTurnResult:
    answered: bool  # False: still calling tools after the forced final-answer request
    tool_rounds: int


class AssistantAgent:
    def __init__(
        self,
        caller: RoleCaller,
        envs: ToolRouter,
        *,
        system_prompt: TurnText | str,
        tools: Sequence[ToolSpec],
        max_tool_rounds: int,
        reasoning: ReasoningStyle | None = None,
    ) -> None:
        self.caller = caller
        self.envs = envs
        self.reasoning = reasoning
        prompt = TurnText.of(system_prompt)
        if reasoning is not None:  # chain of thought: asked for in the simulation-only prompt
            prompt = TurnText.join("\n\n", [prompt, TurnText.plain(reasoning_instruction(reasoning))])
        self.system_prompt = prompt
        self.tools = list(tools)
        self.max_tool_rounds = max_tool_rounds

    def _request(self, transcript: Transcript, *, final: bool, turn: int) -> ModelRequest:
        system = self.system_prompt.at(assistant_turn_number(turn))
        messages = [Message.system(system)] if system else []
        messages.extend(transcript.dialogue())
        if final:
            # Only the model sees the nudge; the transcript stays a clean conversation.
            messages.append(Message.user(FINAL_ANSWER_NUDGE))
        if not self.tools:
            return ModelRequest(messages=messages)
        return ModelRequest(messages=messages, tools=self.tools, tool_choice="none" if final else "auto")

    async def take_turn(self, transcript: Transcript, *, turn: int) -> AssistantTurnResult:
        """Reply to the last user message, running tool rounds until a text answer.

        After `max_tool_rounds` rounds of tool calls the model is asked once more with
        `tool_choice="none"`; if it still does not answer in text, the turn ends unanswered (the episode
        records `tool_round_limit`). Raises RoleModelError on a failed call or an empty reply, and
        EnvironmentStepError when an environment breaks.
        """
        rounds = 0
        while True:
            final = rounds >= self.max_tool_rounds
            response = await self.caller.generate("assistant", self._request(transcript, final=final, turn=turn))
            message = response.message
            thought, content = split_reasoning(message.content, message.reasoning)
            calls = message.tool_calls or []
            if final and calls:
                return AssistantTurnResult(answered=False, tool_rounds=rounds)
            if not calls:
                if not (content or "").strip():
                    if final:
                        return AssistantTurnResult(answered=False, tool_rounds=rounds)
                    raise RoleModelError("assistant", f"the assistant returned an empty reply in turn {turn}")
                transcript.messages.append(Message(role="assistant", content=content, reasoning=thought))
                return AssistantTurnResult(answered=True, tool_rounds=rounds)
            rounds += 1
            transcript.messages.append(
                Message(role="assistant", content=content or None, tool_calls=calls, reasoning=thought)
            )
            context = StepContext(episode_id=self.caller.episode_id, turn=turn, history=list(transcript.messages))
            tool_messages, steps = await execute_tool_calls(self.envs, calls, turn=turn, round=rounds, context=context)
            transcript.messages.extend(tool_messages)
            transcript.steps.extend(steps)
            for step in steps:
                self.caller.add_usage("environment", step.usage)

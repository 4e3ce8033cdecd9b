"""The user simulator: a model role-playing the person who talks to the assistant.

It sees its rendered USER instruction (oumi's `{current_turn}` filled for each of its messages: 1, 3,
5, ...), the plan step for this turn, how to end the conversation
(the stop marker), and the dialogue *from its own side*: the assistant's words arrive as `user`
messages and its own earlier messages as `assistant` messages. It never sees tool calls or tool
results, only what the assistant said in text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from envsim.messages import Message
from envsim.models.base import ModelRequest
from envsim.simulation.model_calls import RoleCaller, RoleModelError
from envsim.simulation.runtime_placeholders import TurnText, user_turn_number

# Opens the dialogue for the user model: most providers need the first message to be from `user`.
OPENING_CUE = "(The conversation starts now. Write your first message to the assistant.)"


@dataclass(frozen=True)
class UserReply:
    """`text` is None when the user ended the conversation with nothing else to say."""

    text: str | None
    stop: bool


def user_system_prompt(
    instruction: str, *, plan_step: str | None, turn: int, num_turns: int | None, stop_marker: str
) -> str:
    parts = [instruction.strip()]
    if plan_step:
        of_n = f" of {num_turns}" if num_turns else ""
        # "your message": unambiguous next to oumi's {current_turn}, which counts both sides' messages.
        parts.append(
            f"This is your message {turn}{of_n} in the conversation. What you do in this turn: {plan_step.strip()}"
        )
    parts.append(
        "You are the user in this conversation, not the assistant: write only your next message to the "
        "assistant, in your own voice, with no labels or commentary. "
        f"If your goal is reached or the conversation should end, put {stop_marker} at the end of your message "
        f"(or send {stop_marker} alone if you have nothing more to say)."
    )
    return "\n\n".join(parts)


def flipped_dialogue(messages: Sequence[Message]) -> list[Message]:
    """The conversation as the user simulator sees it: roles swapped, tool traffic and system prompts
    removed. Assistant messages that only call tools disappear; their text, if any, is kept."""
    flipped: list[Message] = []
    for message in messages:
        if message.role == "user" and message.content:
            flipped.append(Message.assistant(message.content))
        elif message.role == "assistant" and message.content:
            flipped.append(Message.user(message.content))
    if not flipped or flipped[0].role != "user":
        flipped.insert(0, Message.user(OPENING_CUE))
    return flipped


def split_stop_marker(text: str, marker: str) -> UserReply:
    if marker and marker in text:
        remainder = text.replace(marker, "").strip()
        return UserReply(text=remainder or None, stop=True)
    return UserReply(text=text.strip(), stop=False)


class UserSimulator:
    def __init__(self, caller: RoleCaller, *, instruction: TurnText | str, stop_marker: str) -> None:
        self.caller = caller
        self.instruction = TurnText.of(instruction)
        self.stop_marker = stop_marker

    async def next_message(
        self, dialogue: Sequence[Message], *, turn: int, plan_step: str | None, num_turns: int | None
    ) -> UserReply:
        """The user's message for `turn`. Raises RoleModelError when the model fails or says nothing."""
        system = user_system_prompt(
            self.instruction.at(user_turn_number(turn)),
            plan_step=plan_step,
            turn=turn,
            num_turns=num_turns,
            stop_marker=self.stop_marker,
        )
        request = ModelRequest(messages=[Message.system(system), *flipped_dialogue(dialogue)])
        response = await self.caller.generate("user", request)
        reply = split_stop_marker(response.text, self.stop_marker)
        if not reply.stop and not reply.text:
            raise RoleModelError("user", f"the user simulator returned an empty message in turn {turn}")
        return reply

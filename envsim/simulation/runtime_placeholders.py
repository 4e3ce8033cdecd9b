"""Placeholders oumi fills in a conversation's texts rather than from attributes, with oumi's meaning:

- `{target_turns}`: the conversation's length in messages (user + assistant), as oumi counts it; envsim
  draws a number of user turns n between min_turns and max_turns, so target_turns = 2n;
- `{current_turn}`: the message being written, 1-based over both sides: the user writes turns 1, 3, 5...
  and the assistant turns 2, 4, 6... (oumi's turn order USER, ASSISTANT). Only role_instruction_messages
  are rendered per turn; a text rendered once per conversation (the planner's view of the roles) sees
  turn 1, oumi's rule for personas it renders once;
- `{grounding_facts}`: the conversation's grounding facts (see grounding.py).

They are filled before the attribute templates are rendered; `{{target_turns}}` stays a literal. The
names are reserved: an attribute with one of these ids is a config error (oumi's rule for the first two).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

PER_CONVERSATION = ("target_turns", "grounding_facts")
PER_TURN = "current_turn"
RUNTIME_PLACEHOLDERS = (*PER_CONVERSATION, PER_TURN)
RESERVED_ATTRIBUTE_IDS = frozenset(RUNTIME_PLACEHOLDERS)
# The turn a text rendered once per conversation is shown as (oumi renders such personas as turn 1).
ONCE_RENDERED_TURN = 1


def _pattern(*names: str) -> re.Pattern[str]:
    return re.compile(r"(?<!\{)\{(" + "|".join(names) + r")\}(?!\})")


_PER_CONVERSATION = _pattern(*PER_CONVERSATION)
_PER_TURN = _pattern(PER_TURN)


def fill_runtime_placeholders(template: str, values: Mapping[str, str]) -> str:
    # Braces in the values are doubled so the attribute renderer that runs next leaves them alone.
    return _PER_CONVERSATION.sub(
        lambda m: values.get(m.group(1), m.group(0)).replace("{", "{{").replace("}", "}}"), template
    )


def uses_current_turn(template: str) -> bool:
    return _PER_TURN.search(template) is not None


def target_turns(user_turns: int) -> int:
    """oumi's `{target_turns}`: messages, one user message and one assistant reply per turn."""
    return 2 * user_turns


def user_turn_number(turn: int) -> int:
    """oumi's `{current_turn}` for the user's message in envsim's turn `turn` (1-based)."""
    return 2 * turn - 1


def assistant_turn_number(turn: int) -> int:
    """oumi's `{current_turn}` for the assistant's reply in envsim's turn `turn` (tool rounds included)."""
    return 2 * turn


@dataclass(frozen=True)
class TurnText:
    """A conversation's text with every placeholder filled except `{current_turn}`: `at(n)` fills it.
    `parts` are the rendered pieces between the `{current_turn}` occurrences (one piece: none)."""

    parts: tuple[str, ...]

    @classmethod
    def plain(cls, text: str) -> TurnText:
        return cls((text,))

    @classmethod
    def of(cls, text: TurnText | str) -> TurnText:
        return cls.plain(text) if isinstance(text, str) else text

    @classmethod
    def render(cls, template: str, values: Mapping[str, str], render: Callable[[str], str]) -> TurnText:
        """Fill the per-conversation placeholders from `values`, then the attributes (`render`) of each
        piece around `{current_turn}`, so attribute errors surface once, before the conversation starts."""
        filled = fill_runtime_placeholders(template, values)
        return cls(tuple(render(piece) for piece in _PER_TURN.split(filled)[::2]))

    def at(self, current_turn: int) -> str:
        return str(current_turn).join(self.parts)

    @property
    def once(self) -> str:
        """The text where it is shown once per conversation (the planner's view)."""
        return self.at(ONCE_RENDERED_TURN)

    def strip(self) -> TurnText:
        parts = list(self.parts)
        parts[0] = parts[0].lstrip()
        parts[-1] = parts[-1].rstrip()
        return TurnText(tuple(parts))

    def __bool__(self) -> bool:
        return any(self.parts) or len(self.parts) > 1

    def __add__(self, other: str | TurnText) -> TurnText:
        tail = TurnText.plain(other) if isinstance(other, str) else other
        return TurnText((*self.parts[:-1], self.parts[-1] + tail.parts[0], *tail.parts[1:]))

    @staticmethod
    def join(separator: str, texts: list[TurnText]) -> TurnText:
        """`texts` joined by `separator`, leaving out empty ones."""
        kept = [t for t in texts if t]
        if not kept:
            return TurnText.plain("")
        joined = kept[0]
        for text in kept[1:]:
            joined = joined + separator + text
        return joined

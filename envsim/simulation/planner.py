"""The conversation planner: one structured call that sketches the conversation turn by turn.

envsim, not the model, decides how long the conversation is: the number of turns is drawn between
`min_turns` and `max_turns` with the episode's seed, told to the planner, and the reply is asked to hold
exactly that many turn instructions (envsim numbers them 1..n). A plan with too many turns is truncated and
one with too few is padded with a generic instruction (`Plan.adjusted_from` records the length the planner
gave): re-asking for a length costs more calls than it buys. A reply that is not a plan at all is re-asked
with the validation error (the structured-call budget); if it still fails, the episode goes on without a
plan, for the drawn number of turns, and the trace's `plan_error` says why. A model that fails outright
(after the model layer's retries) is a model error, not a missing plan.

The reply schema has no `$ref` (its `$defs` are inlined where it is built): generic OpenAI-compatible
servers that do not resolve references then see the whole shape.
"""

from __future__ import annotations

import asyncio
import copy
import random
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from envsim.errors import OutputValidationError
from envsim.messages import ToolSpec
from envsim.models.schema_instance import inline_local_refs
from envsim.models.structured import structured_call
from envsim.recording.trace import Plan, PlanTurn
from envsim.simulation.model_calls import RoleCaller, RoleModelError, describe_error
from envsim.simulation.tool_execution import RUN_STOPPING_ERRORS

PLANNER_SYSTEM_PROMPT = """\
You plan realistic conversations between a user and an AI assistant that can call tools.
You are given the user's role-play instructions, the assistant's instructions, the tools the assistant
can use, and the exact number of turns. A turn is one user message plus the assistant's reply (with any
tool calls it makes). Write one instruction per turn saying what the user does or says in that turn, so
that the conversation progresses naturally toward the user's goal and exercises the tools where it makes
sense. Instructions are for the user only: describe the user's intent, not the assistant's answers.
Number the turns 1..n and return exactly n of them."""

# What a padded turn asks of the user when the planner returned fewer turns than drawn.
PADDING_INSTRUCTION = "Continue the conversation naturally toward your goal, reacting to the assistant's last reply."


def draw_num_turns(seed: int, min_turns: int, max_turns: int) -> int:
    """The planned conversation length: uniform in [min_turns, max_turns], fixed by the episode seed."""
    low, high = min(min_turns, max_turns), max(min_turns, max_turns)
    return random.Random(seed).randint(low, high)


class ToolSummary(BaseModel):
    name: str
    description: str


class PlannerInput(BaseModel):
    """What the planner is told (formatted into its prompt by the structured call)."""

    num_turns: int
    user_instructions: str
    assistant_instructions: str
    planner_instructions: str | None = None
    tools: list[ToolSummary] = Field(default_factory=list)


class PlanDraft(BaseModel):
    """The planner's reply; `draft_type(n)` pins the number of turns. Extra keys (models like to echo
    `num_turns`) are ignored rather than re-asked."""

    model_config = ConfigDict(extra="ignore")

    turns: list[PlanTurn]
    notes: str | None = None

    @model_validator(mode="after")
    def _numbered_and_non_empty(self) -> PlanDraft:
        empty = [i + 1 for i, t in enumerate(self.turns) if not t.instruction.strip()]
        if empty:
            raise ValueError(f"turn(s) {empty} have an empty instruction")
        # Numbering is envsim's job, not worth a re-ask: a permutation of 1..n is put in order, anything
        # else (0-based, repeated, missing numbers) is renumbered in the order given.
        numbers = [t.turn for t in self.turns]
        if sorted(numbers) == list(range(1, len(numbers) + 1)):
            self.turns = sorted(self.turns, key=lambda t: t.turn)
        else:
            self.turns = [PlanTurn(turn=i + 1, instruction=t.instruction) for i, t in enumerate(self.turns)]
        return self


@lru_cache(maxsize=64)
def draft_type(num_turns: int) -> type[PlanDraft]:
    """A PlanDraft whose schema asks for exactly `num_turns` turns; validation takes any non-empty list
    (`fit_to_length` then truncates or pads it)."""
    model = create_model(
        f"PlanOf{num_turns}Turns",
        __base__=PlanDraft,
        turns=(
            list[PlanTurn],
            Field(min_length=1, json_schema_extra={"minItems": num_turns, "maxItems": num_turns}),
        ),
    )
    _cache_json_schema(model)
    return model


def fit_to_length(turns: list[PlanTurn], num_turns: int) -> list[PlanTurn]:
    """`turns` cut to `num_turns`, or padded with `PADDING_INSTRUCTION` turns up to it."""
    kept = turns[:num_turns]
    padding = [PlanTurn(turn=i + 1, instruction=PADDING_INSTRUCTION) for i in range(len(kept), num_turns)]
    return [*kept, *padding]


def _cache_json_schema(model: type[BaseModel]) -> None:
    """structured_call asks for the JSON schema on every call and pydantic rebuilds it each time
    (~5 ms, the planner's largest cost); these types never change, so build it once, `$ref`-free."""
    generated = model.model_json_schema()
    inlined = inline_local_refs(generated)
    schema = generated if inlined is None else {k: v for k, v in inlined.items() if k != "$defs"}
    build = model.model_json_schema

    def cached(*args: Any, **kwargs: Any) -> dict[str, Any]:
        return copy.deepcopy(schema) if not (args or kwargs) else build(*args, **kwargs)

    model.model_json_schema = staticmethod(cached)  # type: ignore[method-assign, assignment]


@dataclass(frozen=True)
class PlanOutcome:
    plan: Plan | None
    error: str | None  # why there is no plan


class Planner:
    def __init__(self, caller: RoleCaller, *, max_validation_attempts: int = 3) -> None:
        self.caller = caller
        self.max_validation_attempts = max_validation_attempts

    async def plan(
        self,
        *,
        num_turns: int,
        user_instructions: str,
        assistant_instructions: str,
        planner_instructions: str | None,
        tools: list[ToolSpec],
    ) -> PlanOutcome:
        """A validated plan of exactly `num_turns` turns, or no plan and the reason.
        Raises RoleModelError when the planner's model fails outright."""
        planner_input = PlannerInput(
            num_turns=num_turns,
            user_instructions=user_instructions,
            assistant_instructions=assistant_instructions,
            planner_instructions=planner_instructions or None,
            tools=[ToolSummary(name=t.name, description=t.description) for t in tools],
        )
        try:
            result = await structured_call(
                self.caller.model("planner"),
                system=PLANNER_SYSTEM_PROMPT,
                input=planner_input,
                output_type=draft_type(num_turns),
                context=self.caller.context("planner"),
                params=self.caller.params_for("planner"),
                max_validation_attempts=self.max_validation_attempts,
            )
        except OutputValidationError as exc:
            # Usage of the failed attempts is not returned on this path; the model layer tracks it.
            return PlanOutcome(plan=None, error=f"the planner gave no valid plan: {exc.render()}")
        except (asyncio.CancelledError, *RUN_STOPPING_ERRORS):
            raise
        except Exception as exc:
            raise RoleModelError("planner", describe_error(exc)) from exc
        self.caller.add_usage("planner", result.usage)
        draft = result.value
        given = len(draft.turns)
        plan = Plan(
            num_turns=num_turns,
            turns=fit_to_length(draft.turns, num_turns),
            notes=draft.notes,
            adjusted_from=given if given != num_turns else None,
        )
        return PlanOutcome(plan=plan, error=None)

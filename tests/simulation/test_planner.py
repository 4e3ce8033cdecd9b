from __future__ import annotations

import json

import pytest

from envsim.models.base import ModelRequest
from envsim.recording.trace import EpisodeStatus, TerminationReason
from envsim.simulation.episode import simulate_episode
from envsim.simulation.planner import PADDING_INSTRUCTION, draft_type, draw_num_turns
from envsim.testing import FunctionModel, ScriptedModel

from .test_episode import CONVERSATION, counting_user, deps, spec


def plan_json(n: int, *, numbered_from: int = 1) -> str:
    turns = [{"turn": i + numbered_from, "instruction": f"step {i + 1}"} for i in range(n)]
    return json.dumps({"turns": turns, "notes": "keep it short"})


def test_num_turns_is_drawn_from_the_seed_within_bounds() -> None:
    draws = {draw_num_turns(seed, 2, 6) for seed in range(200)}
    assert draws == {2, 3, 4, 5, 6}
    assert draw_num_turns(42, 2, 6) == draw_num_turns(42, 2, 6)


async def test_the_plan_drives_the_conversation() -> None:
    conversation = CONVERSATION.model_copy(
        update={"min_turns": 1, "max_turns": 5, "conversation_planner": "Plan for {customer}."}
    )
    n = draw_num_turns(spec().seed, 1, 5)
    planner = ScriptedModel([plan_json(n)])
    user_systems: list[str] = []

    def user(request: ModelRequest) -> str:
        user_systems.append(request.messages[0].content or "")
        return "hello"

    trace = await simulate_episode(
        spec(),
        deps(
            {"planner": planner, "user": FunctionModel(user), "assistant": FunctionModel(lambda r: "ok")},
            conversation,
            use_planner=True,
        ),
    )
    assert trace.termination is TerminationReason.PLANNED_TURNS and trace.turns == n
    assert trace.plan is not None and trace.plan.num_turns == n and trace.plan.turns[0].instruction == "step 1"
    assert all(f"What you do in this turn: step {i + 1}" in s for i, s in enumerate(user_systems))
    prompt = planner.requests[0].messages[-1].content or ""
    assert f'"num_turns": {n}' in prompt and "Plan for customer 0." in prompt
    assert '"name": "add"' in prompt and "Add an amount to the counter." in prompt
    assert trace.usage.keys() >= {"planner", "user", "assistant"}


@pytest.mark.parametrize(("given", "kind"), [(3, "too many"), (-1, "too few")])
async def test_a_plan_of_the_wrong_length_is_fitted_not_re_asked(given: int, kind: str) -> None:
    conversation = CONVERSATION.model_copy(update={"min_turns": 2, "max_turns": 5})
    n = draw_num_turns(spec().seed, 2, 5)
    planner = ScriptedModel([plan_json(n + given, numbered_from=0)])
    trace = await simulate_episode(
        spec(),
        deps(
            {"planner": planner, "user": counting_user(), "assistant": FunctionModel(lambda r: "ok")},
            conversation,
            use_planner=True,
        ),
    )
    planner.assert_consumed()  # one planner call: the length is fixed by envsim, not re-asked
    assert trace.plan is not None and trace.plan_error is None
    assert trace.plan.num_turns == n and trace.plan.adjusted_from == n + given
    assert [t.turn for t in trace.plan.turns] == list(range(1, n + 1))  # 0-based numbering renumbered
    instructions = [t.instruction for t in trace.plan.turns]
    if kind == "too many":
        assert instructions == [f"step {i + 1}" for i in range(n)]
    else:
        assert instructions == [*(f"step {i + 1}" for i in range(n - 1)), PADDING_INSTRUCTION]
    assert trace.termination is TerminationReason.PLANNED_TURNS and trace.turns == n


async def test_a_reply_that_is_not_a_plan_is_re_asked() -> None:
    n = draw_num_turns(spec().seed, CONVERSATION.min_turns, CONVERSATION.max_turns)
    empty = json.dumps({"turns": [{"turn": 1, "instruction": " "}]})
    planner = ScriptedModel([empty, plan_json(n)])
    trace = await simulate_episode(
        spec(),
        deps(
            {"planner": planner, "user": counting_user(), "assistant": FunctionModel(lambda r: "ok")}, use_planner=True
        ),
    )
    assert trace.plan is not None and trace.plan_error is None and trace.plan.adjusted_from is None
    assert "could not be used" in (planner.requests[1].messages[-1].content or "")
    planner.assert_consumed()


def test_the_planner_reply_schema_has_no_refs() -> None:
    schema = draft_type(4).model_json_schema()
    text = json.dumps(schema)
    assert "$ref" not in text and "$defs" not in text
    turns = schema["properties"]["turns"]
    assert turns["minItems"] == turns["maxItems"] == 4
    assert turns["items"]["properties"].keys() >= {"turn", "instruction"}


async def test_without_a_valid_plan_the_episode_keeps_its_drawn_length() -> None:
    conversation = CONVERSATION.model_copy(update={"min_turns": 1, "max_turns": 6})
    n = draw_num_turns(spec().seed, 1, 6)
    assert n < 6, "pick a seed whose drawn length differs from max_turns"
    planner = ScriptedModel(["not json", "still not", "nope"])
    trace = await simulate_episode(
        spec(),
        deps(
            {"planner": planner, "user": counting_user(), "assistant": FunctionModel(lambda r: "ok")},
            conversation,
            use_planner=True,
        ),
    )
    assert trace.status is EpisodeStatus.SUCCESS and trace.plan is None
    assert "no valid plan" in (trace.plan_error or "")
    assert trace.turns == n

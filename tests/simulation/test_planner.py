from __future__ import annotations

import json

from envsim.models.base import ModelRequest
from envsim.recording.trace import EpisodeStatus, TerminationReason
from envsim.simulation.episode import simulate_episode
from envsim.simulation.planner import draw_num_turns
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


async def test_a_bad_plan_is_re_asked() -> None:
    n = draw_num_turns(spec().seed, CONVERSATION.min_turns, CONVERSATION.max_turns)
    planner = ScriptedModel([plan_json(n + 1), plan_json(n, numbered_from=0)])
    trace = await simulate_episode(
        spec(),
        deps(
            {"planner": planner, "user": counting_user(), "assistant": FunctionModel(lambda r: "ok")}, use_planner=True
        ),
    )
    # The wrong length is re-asked; 0-based numbering is not worth a re-ask and is renumbered 1..n.
    assert trace.plan is not None and trace.plan_error is None
    assert [t.turn for t in trace.plan.turns] == list(range(1, n + 1))
    assert "could not be used" in (planner.requests[1].messages[-1].content or "")
    planner.assert_consumed()


async def test_without_a_valid_plan_the_episode_goes_on_to_max_turns() -> None:
    planner = ScriptedModel(["not json", "still not", "nope"])
    trace = await simulate_episode(
        spec(),
        deps(
            {"planner": planner, "user": counting_user(), "assistant": FunctionModel(lambda r: "ok")}, use_planner=True
        ),
    )
    assert trace.status is EpisodeStatus.SUCCESS and trace.plan is None
    assert "no valid plan" in (trace.plan_error or "")
    assert trace.termination is TerminationReason.MAX_TURNS and trace.turns == CONVERSATION.max_turns

"""Hand-built traces for the recorder and exporter tests (a small, consistent support conversation)."""

from __future__ import annotations

import copy
import json
from typing import Any

from envsim.canonical import stable_hash
from envsim.messages import Message, ToolCall, ToolSpec
from envsim.models.base import Usage
from envsim.recording.trace import EpisodeStatus, Plan, PlanTurn, StepRecord, TerminationReason, Trace

INITIAL = {"orders": {"A1": {"status": "late", "item": "lamp"}}}
CANCELLED = {"orders": {"A1": {"status": "cancelled", "item": "lamp"}}}
LIVE_USAGE = Usage(requests=3, input_tokens=420, output_tokens=57)
CANCEL_PATCH = [{"op": "replace", "path": "/orders/A1/status", "value": "cancelled"}]

TOOLS = [
    ToolSpec(
        name="get_order",
        description="Look up an order.",
        parameters={"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]},
        read_only=True,
    ),
    ToolSpec(
        name="cancel_order",
        description="Cancel an order.",
        parameters={
            "type": "object",
            "properties": {"order_id": {"type": "string"}, "reason": {"type": "string"}},
            "required": ["order_id"],
        },
    ),
]


def make_trace(
    episode_id: str = "ep-0000",
    *,
    sample_index: int = 0,
    trial: int = 0,
    failed: bool = False,
    tool_error: str | None = None,  # None | "unrecovered" | "recovered"
    empty: bool = False,
    wall_time_s: float = 1.25,
    from_cache: bool = False,  # as replayed from the response cache: same content, different measurements
) -> Trace:
    """A two-turn conversation: look up an order, then cancel it (one state patch)."""
    lookup = ToolCall.make("get_order", {"order_id": "A1"}, id=f"{episode_id}-c1")
    cancel = ToolCall.make("cancel_order", {"order_id": "A1", "reason": "late"}, id=f"{episode_id}-c2")
    lookup_output = {"order_id": "A1", "status": "late"}
    messages = [
        Message.system("You are a helpful support agent."),
        Message.user("Where is my order A1?"),
        Message.assistant(tool_calls=[lookup]),
        Message.tool(lookup.id, json.dumps(lookup_output), name="get_order"),
        Message.assistant("Order A1 is late."),
        Message.user("Please cancel it."),
        Message.assistant("Cancelling now.", tool_calls=[cancel]),
        Message.tool(cancel.id, json.dumps({"ok": True}), name="cancel_order"),
        Message.assistant("Done: A1 is cancelled."),
    ]
    steps = [
        StepRecord(
            turn=1,
            environment="shop",
            tool="get_order",
            call_id=lookup.id,
            arguments={"order_id": "A1"},
            output=lookup_output,
            state_hash=stable_hash(INITIAL),
            latency_s=0.1,
        ),
        StepRecord(
            turn=2,
            environment="shop",
            tool="cancel_order",
            call_id=cancel.id,
            arguments={"order_id": "A1", "reason": "late"},
            output={"ok": True},
            patch=copy.deepcopy(CANCEL_PATCH),
            state_hash=stable_hash(CANCELLED),
            latency_s=0.2,
        ),
    ]
    if tool_error is not None:
        bad = ToolCall.make("get_order", {"order": "A1"}, id=f"{episode_id}-c0")
        error = "arguments do not match the schema: 'order_id' is a required property"
        messages[2:2] = [
            Message.assistant(tool_calls=[bad]),
            Message.tool(bad.id, json.dumps({"error": error}), name="get_order"),
        ]
        steps.insert(
            0,
            StepRecord(
                turn=1,
                environment="shop",
                tool="get_order",
                call_id=bad.id,
                arguments={"order": "A1"},
                error=error,
                state_hash=stable_hash(INITIAL),
            ),
        )
        if tool_error == "unrecovered":
            # The later get_order succeeds only in "recovered"; here it is dropped entirely.
            del messages[4:6]
            del steps[1]
    if empty:
        messages = [messages[0]]
        steps = []
    trace = Trace(
        episode_id=episode_id,
        scenario_id=f"scenario-{sample_index}",
        sample_index=sample_index,
        trial=trial,
        seed=1000 + sample_index,
        attributes={"customer_type": "busy", "issue": "late order"},
        conversation_id="support_chat",
        plan=Plan(num_turns=2, turns=[PlanTurn(turn=1, instruction="ask"), PlanTurn(turn=2, instruction="cancel")]),
        messages=messages,
        tools=list(TOOLS),
        steps=steps,
        initial_state={"shop": copy.deepcopy(INITIAL)},
        final_state={"shop": copy.deepcopy(INITIAL if empty else CANCELLED)},
        status=EpisodeStatus.FAILED if failed else EpisodeStatus.SUCCESS,
        termination=TerminationReason.MODEL_ERROR if failed else TerminationReason.PLANNED_TURNS,
        error="model failed after 3 attempts" if failed else None,
        turns=0 if empty else 2,
        wall_time_s=wall_time_s,
        usage={"assistant": Usage(cache_hits=3) if from_cache else LIVE_USAGE},
    )
    if from_cache:
        for step in trace.steps:
            step.cached = True
    return trace


def tool_calls_of(record: dict[str, Any]) -> list[dict[str, Any]]:
    return [call for m in record["messages"] for call in (m.get("tool_calls") or [])]

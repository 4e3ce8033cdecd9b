"""Hybrid environments: in a synthetic environment, tools with a `handler` run as Python, the others are
simulated; both work on one state under one rule and record the same kind of patches."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from envsim.config.models import EnvironmentConfig
from envsim.environments import EnvironmentSet
from envsim.errors import ConfigError
from envsim.messages import Message, ToolCall
from envsim.models.base import ModelResponse, Usage
from envsim.recording.trace import StepRecord, TerminationReason, Trace
from envsim.recording.verify import verify_trace
from envsim.testing import ScriptedModel

TOOLS_PY = '''
def get_order(order_id: str, state: dict) -> dict:
    """Look an order up."""
    if order_id not in state["orders"]:
        raise ValueError(f"Order {order_id} not found")
    return state["orders"][order_id]


def cancel_order(order_id: str, state: dict) -> dict:
    """Cancel an order."""
    state["orders"][order_id]["status"] = "cancelled"
    return state["orders"][order_id]


def shout(text: str) -> str:
    """A stateless helper."""
    return text.upper()
'''

SCHEMA = {
    "type": "object",
    "properties": {
        "orders": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "required": ["status", "total"],
                "properties": {"status": {"enum": ["pending", "cancelled"]}, "total": {"type": "number", "minimum": 0}},
            },
        }
    },
}
STATE = {"orders": {"#W1": {"status": "pending", "total": 100.0}, "#W2": {"status": "pending", "total": 50.0}}}
APPLY_DISCOUNT = {
    "id": "apply_discount",
    "description": "Take a percentage off an order's total.",
    "parameters": {
        "type": "object",
        "required": ["order_id", "percent"],
        "properties": {"order_id": {"type": "string"}, "percent": {"type": "number"}},
    },
    "state_view": ["/orders/{order_id}"],
}


@pytest.fixture
def shop(tmp_path: Path) -> tuple[EnvironmentConfig, Path]:
    (tmp_path / "shop_tools.py").write_text(TOOLS_PY)
    config = EnvironmentConfig.model_validate(
        {
            "id": "shop",
            "type": "synthetic",
            "state_params": {"state_schema": SCHEMA, "initial_state": STATE},
            "tools": [
                {"id": "get_order", "handler": "shop_tools.py:get_order", "read_only": True},
                {"id": "cancel_order", "handler": "shop_tools.py:cancel_order"},
                APPLY_DISCOUNT,
            ],
        }
    )
    return config, tmp_path


def reply(output: Any, patch: list[dict[str, Any]]) -> ModelResponse:
    return ModelResponse(
        message=Message.assistant(json.dumps({"output": output, "patch": patch})), usage=Usage(requests=1)
    )


DISCOUNT = [{"op": "replace", "path": "/orders/#W1/total", "value": 90.0}]


async def test_python_and_simulated_tools_share_one_state(shop: tuple[EnvironmentConfig, Path]) -> None:
    config, base = shop
    model = ScriptedModel([reply({"total": 90.0}, DISCOUNT)])
    envs = EnvironmentSet.build([config], model=model, base_dir=base)
    assert [spec.name for spec in envs.tool_specs()] == ["get_order", "cancel_order", "apply_discount"]  # config order
    discounted = await envs.step(ToolCall.make("apply_discount", {"order_id": "#W1", "percent": 10}, id="a"))
    assert discounted.ok and discounted.patch == DISCOUNT and discounted.state_view == ["/orders/#W1"]
    seen = await envs.step(ToolCall.make("get_order", {"order_id": "#W1"}, id="b"))  # python sees the model's change
    assert seen.output == {"status": "pending", "total": 90.0} and seen.patch == [] and seen.state_view is None
    cancelled = await envs.step(ToolCall.make("cancel_order", {"order_id": "#W1"}, id="c"))
    assert cancelled.patch == [{"op": "replace", "path": "/orders/#W1/status", "value": "cancelled"}]
    assert len(model.requests) == 1  # only the simulated tool asked the model
    # The model is told about every tool of the environment, python ones included, in its stable prefix.
    assert '"name": "cancel_order"' in (model.requests[0].messages[0].content or "")
    assert envs.states()["shop"]["orders"]["#W1"] == {"status": "cancelled", "total": 90.0}
    # Both kinds of steps replay from the recorded patches.
    steps = [
        StepRecord(turn=1, environment="shop", tool=r.tool, call_id=r.call_id, patch=r.patch, state_hash=r.state_hash)
        for r in (discounted, seen, cancelled)
    ]
    trace = Trace(
        episode_id="e",
        seed=0,
        termination=TerminationReason.SCRIPT_END,
        steps=steps,
        initial_state={"shop": STATE},
        final_state=envs.states(),
    )
    assert verify_trace(trace) == []


async def test_both_kinds_obey_the_state_rule(shop: tuple[EnvironmentConfig, Path]) -> None:
    config, base = shop
    negative = [{"op": "replace", "path": "/orders/#W1/total", "value": -5}]
    model = ScriptedModel([reply({}, negative)] * 3)
    envs = EnvironmentSet.build([config], model=model, base_dir=base)
    before = envs.states()
    simulated = await envs.step(ToolCall.make("apply_discount", {"order_id": "#W1", "percent": 200}, id="a"))
    assert not simulated.ok and "state schema" in (simulated.error or "")
    python = await envs.step(ToolCall.make("cancel_order", {"order_id": "#W9"}, id="b"))
    assert not python.ok and "KeyError" in (python.error or "")
    assert envs.states() == before


def test_a_stateless_hybrid_tool_wanting_state_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "shop_tools.py").write_text(TOOLS_PY)
    config = EnvironmentConfig.model_validate(
        {"id": "s", "type": "synthetic", "tools": [{"id": "get_order", "handler": "shop_tools.py:get_order"}]}
    )
    with pytest.raises(ConfigError, match="takes a `state` argument, but the environment has no state"):
        EnvironmentSet.build([config], model=ScriptedModel([]), base_dir=tmp_path)


async def test_a_stateless_python_tool_in_a_stateless_synthetic_environment(tmp_path: Path) -> None:
    (tmp_path / "shop_tools.py").write_text(TOOLS_PY)
    config = EnvironmentConfig.model_validate(
        {"id": "s", "type": "synthetic", "tools": [{"id": "shout", "handler": "shop_tools.py:shout"}]}
    )
    envs = EnvironmentSet.build([config], model=ScriptedModel([]), base_dir=tmp_path)
    result = await envs.step(ToolCall.make("shout", {"text": "hi"}, id="a"))
    assert result.output == "HI" and result.state_hash is None

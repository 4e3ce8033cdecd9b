"""Synthetic stateful environments see a view of the state, may only change what they saw, and keep the
prompt within its token budget on large states."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from envsim.config.models import EnvironmentConfig
from envsim.environments import EnvironmentSet, StepContext
from envsim.environments.state_view_auto import estimate_tokens, larger_than
from envsim.messages import Message, ToolCall
from envsim.models.base import ModelRequest, ModelResponse, Usage
from envsim.testing import FunctionModel, ScriptedModel


def shop_state(users: int = 3, orders_per_user: int = 2) -> dict[str, Any]:
    state: dict[str, Any] = {"users": {}, "orders": {}, "tickets": [], "settings": {"currency": "USD"}}
    for u in range(users):
        user_id = f"user_{u}"
        state["users"][user_id] = {"user_id": user_id, "name": f"User {u}", "orders": []}
        for o in range(orders_per_user):
            order_id = f"#W{u:04d}{o}"
            state["users"][user_id]["orders"].append(order_id)
            state["orders"][order_id] = {"order_id": order_id, "user_id": user_id, "status": "pending", "total": 10.0}
    return state


def tool(name: str, params: list[str], **extra: Any) -> dict[str, Any]:
    properties = {p: {"type": "string"} for p in params}
    return {"id": name, "parameters": {"type": "object", "properties": properties}} | extra


def shop(tools: list[dict[str, Any]], state: dict[str, Any] | None = None, **extra: Any) -> EnvironmentConfig:
    return EnvironmentConfig.model_validate(
        {
            "id": "shop",
            "type": "synthetic",
            "system_prompt": "You are a shop backend.",
            "state_params": {"initial_state": state if state is not None else shop_state()},
            "tools": tools,
        }
        | extra
    )


def reply(output: Any, patch: list[dict[str, Any]] | None = None) -> ModelResponse:
    return ModelResponse(
        message=Message.assistant(json.dumps({"output": output, "patch": patch or []})), usage=Usage(requests=1)
    )


async def call(envs: EnvironmentSet, name: str, args: dict[str, Any], context: StepContext | None = None) -> Any:
    return await envs.step(ToolCall.make(name, args, id="c1"), context)


def prompt_of(request: ModelRequest) -> str:
    return request.messages[-1].content or ""


def shown_view(request: ModelRequest) -> dict[str, Any]:
    text = prompt_of(request).split("as JSON Pointer -> current value):\n")[1]
    return json.loads(text.split("\n")[0])


# --------------------------------------------------------------------------- configured views


async def test_configured_pointers_are_templated_from_the_arguments_and_recorded() -> None:
    get_order = tool("get_order", ["order_id"], read_only=True, state_view=["/orders/{order_id}", "/settings"])
    model = ScriptedModel([reply({"status": "pending"}), reply({"error": "Order not found"})])
    envs = EnvironmentSet.build([shop([get_order])], model=model)
    found = await call(envs, "get_order", {"order_id": "#W00010"})
    assert found.ok and found.state_view == ["/orders/#W00010", "/settings"]
    view = shown_view(model.requests[0])
    assert view == {"/orders/#W00010": shop_state()["orders"]["#W00010"], "/settings": {"currency": "USD"}}
    assert "#W00020" not in prompt_of(model.requests[0])  # nothing else of the state is in the prompt
    missing = await call(envs, "get_order", {"order_id": "#W9/9"})
    assert missing.state_view == ["/settings", "/orders/#W9~19"]  # escaped per RFC 6901, reported as absent
    assert "Not in the state (these pointers do not exist): /orders/#W9~19" in prompt_of(model.requests[1])


async def test_a_list_argument_shows_one_record_per_element_and_a_missing_one_none() -> None:
    get_orders = tool("get_orders", ["order_ids", "user_id"], read_only=True)
    get_orders["parameters"]["properties"]["order_ids"] = {"type": "array", "items": {"type": "string"}}
    get_orders["state_view"] = ["/orders/{order_ids}", "/users/{user_id}"]
    model = ScriptedModel([reply([])])
    envs = EnvironmentSet.build([shop([get_orders])], model=model)
    result = await call(envs, "get_orders", {"order_ids": ["#W00000", "#W00011"]})
    assert result.state_view == ["/orders/#W00000", "/orders/#W00011"]


async def test_query_selects_records_by_field_value_with_a_limit() -> None:
    query = {"collection": "/orders", "where": {"user_id": "{user_id}", "status": "pending"}, "limit": 1}
    list_orders = tool("list_orders", ["user_id"], read_only=True, state_view={"queries": [query]})
    model = ScriptedModel([reply([]), reply([])])
    envs = EnvironmentSet.build([shop([list_orders])], model=model)
    result = await call(envs, "list_orders", {"user_id": "user_2"})
    assert result.state_view == ["/orders/#W00020"]
    query["limit"] = 5
    envs = EnvironmentSet.build([shop([list_orders | {"state_view": {"queries": [query]}}])], model=model)
    result = await call(envs, "list_orders", {"user_id": "user_2"})
    assert result.state_view == ["/orders/#W00020", "/orders/#W00021"]


# --------------------------------------------------------------------------- patches limited to the view


async def test_a_patch_outside_the_view_is_re_asked_with_the_reason_and_the_state_is_untouched() -> None:
    cancel = tool("cancel_order", ["order_id"], state_view=["/orders/{order_id}"])
    outside = [{"op": "replace", "path": "/orders/#W00020/status", "value": "cancelled"}]
    inside = [{"op": "replace", "path": "/orders/#W00010/status", "value": "cancelled"}]
    model = ScriptedModel([reply({"ok": True}, outside), reply({"ok": True}, inside)])
    envs = EnvironmentSet.build([shop([cancel])], model=model)
    result = await call(envs, "cancel_order", {"order_id": "#W00010"})
    assert result.ok and result.attempts == 2 and result.patch == inside
    retry = prompt_of(model.requests[1])
    assert "operation 0 (replace /orders/#W00020/status) touches /orders/#W00020/status" in retry
    assert "outside the part of the state you were shown (/orders/#W00010)" in retry
    state = envs.states()["shop"]
    assert state["orders"]["#W00010"]["status"] == "cancelled" and state["orders"]["#W00020"]["status"] == "pending"


@pytest.mark.parametrize(
    "patch",
    [
        [{"op": "replace", "path": "/orders", "value": {}}],  # an ancestor of the view
        [{"op": "move", "from": "/orders/#W00020", "path": "/orders/#W00010"}],  # moves from outside
        [{"op": "copy", "from": "/users/user_0", "path": "/orders/#W00010/owner"}],  # reads outside
        [{"op": "add", "path": "/tickets/-", "value": {"id": "T-1"}}],  # creating without allow_create
    ],
)
async def test_every_way_out_of_the_view_is_rejected(patch: list[dict[str, Any]]) -> None:
    cancel = tool("cancel_order", ["order_id"], state_view=["/orders/{order_id}"])
    model = ScriptedModel([reply({"ok": True}, patch)])
    envs = EnvironmentSet.build([shop([cancel], max_attempts=1)], model=model)
    before = envs.states()
    result = await call(envs, "cancel_order", {"order_id": "#W00010"})
    assert not result.ok and "outside the part of the state you were shown" in (result.error or "")
    assert result.error_kind == "infrastructure" and envs.states() == before


async def test_allow_create_admits_new_records_only() -> None:
    open_ticket = tool(
        "open_ticket", ["user_id"], state_view=["/users/{user_id}"], allow_create=["/tickets", "/orders"]
    )
    append = [{"op": "add", "path": "/tickets/-", "value": {"id": "T-1"}}]
    new_key = [
        {"op": "add", "path": "/orders/#W9", "value": {"order_id": "#W9"}},
        {"op": "add", "path": "/orders/#W9/status", "value": "pending"},  # under the record just created
    ]
    overwrite = [{"op": "add", "path": "/orders/#W00000", "value": {}}]  # exists: not a new record
    model = ScriptedModel([reply("ok", append), reply("ok", new_key), reply("ok", overwrite)])
    envs = EnvironmentSet.build([shop([open_ticket], max_attempts=1)], model=model)
    assert (await call(envs, "open_ticket", {"user_id": "user_0"})).patch == append
    assert (await call(envs, "open_ticket", {"user_id": "user_0"})).patch == new_key
    refused = await call(envs, "open_ticket", {"user_id": "user_0"})
    assert not refused.ok and "or add new records to /tickets, /orders" in (refused.error or "")
    assert "This call may add new records to: /tickets, /orders" in prompt_of(model.requests[0])
    assert envs.states()["shop"]["orders"]["#W9"] == {"order_id": "#W9", "status": "pending"}


# --------------------------------------------------------------------------- automatic views


def big_state() -> dict[str, Any]:
    return shop_state(users=400, orders_per_user=3)


async def test_a_small_state_is_shown_whole() -> None:
    model = ScriptedModel([reply({"ok": True})])
    envs = EnvironmentSet.build([shop([tool("get_user", ["user_id"], read_only=True)])], model=model)
    result = await call(envs, "get_user", {"user_id": "user_1"})
    assert result.state_view == [""]
    assert "Current state:\n" in prompt_of(model.requests[0])


async def test_a_large_state_gets_a_view_within_the_budget_with_the_records_the_call_names() -> None:
    state = big_state()
    assert larger_than(state, 6000 * 4)
    model = ScriptedModel([reply({"ok": True})])
    envs = EnvironmentSet.build([shop([tool("get_user", ["user_id"], read_only=True)], state)], model=model)
    result = await call(envs, "get_user", {"user_id": "user_7"})
    request = model.requests[0]
    tokens = sum(estimate_tokens(m.content or "") for m in request.messages)
    assert tokens <= 6000
    # Small top-level values, the user named by the argument and the orders it refers to (one hop).
    assert result.state_view == [
        "/tickets",
        "/settings",
        "/users/user_7",
        "/orders/#W00070",
        "/orders/#W00071",
        "/orders/#W00072",
    ]
    outline = json.loads(prompt_of(request).split("(not shown; you cannot change it):\n")[1].split("\n")[0])
    assert outline["/users"] == {
        "type": "object of records",
        "count": 400,
        "shown": 1,
        "sample_keys": ["user_0", "user_1", "user_2"],
    }
    assert outline["/orders"]["count"] == 1200 and outline["/orders"]["shown"] == 3


async def test_the_budget_is_configurable_and_history_ids_are_used() -> None:
    state = big_state()
    model = ScriptedModel([reply({"ok": True})])
    config = shop([tool("get_order", ["order_id"], read_only=True)], state, prompt_token_budget=1500)
    envs = EnvironmentSet.build([config], model=model)
    history = [Message.user("My other order is #W01230, and my account user_5")]
    result = await call(envs, "get_order", {"order_id": "#W00011"}, StepContext(history=history))
    assert result.state_view is not None and result.state_view[:5] == [
        "/tickets",
        "/settings",
        "/orders/#W00011",  # the argument
        "/orders/#W01230",  # ids of the conversation, newest first
        "/users/user_5",
    ]
    assert sum(estimate_tokens(m.content or "") for m in model.requests[0].messages) <= 1500


async def test_an_automatic_view_limits_the_patch_too() -> None:
    state = big_state()
    outside = [{"op": "replace", "path": "/users/user_9/name", "value": "X"}]
    inside = [{"op": "replace", "path": "/users/user_7/name", "value": "X"}]
    model = ScriptedModel([reply("ok", outside), reply("ok", inside)])
    envs = EnvironmentSet.build([shop([tool("rename", ["user_id"])], state)], model=model)
    result = await call(envs, "rename", {"user_id": "user_7"})
    assert result.ok and result.attempts == 2 and result.patch == inside


async def test_tool_cache_hits_record_the_view_of_the_original_call(tmp_path: Path) -> None:
    get_order = tool("get_order", ["order_id"], read_only=True, state_view=["/orders/{order_id}"])
    model = ScriptedModel([reply({"status": "pending"})])
    config = shop([get_order], cache_by_input=True)
    first = await call(
        EnvironmentSet.build([config], model=model, cache_dir=tmp_path), "get_order", {"order_id": "#W00000"}
    )
    second = await call(
        EnvironmentSet.build([config], model=model, cache_dir=tmp_path), "get_order", {"order_id": "#W00000"}
    )
    assert second.cached and second.state_view == first.state_view == ["/orders/#W00000"]


async def test_the_system_message_is_one_stable_prefix_for_every_tool_and_call() -> None:
    seen: list[ModelRequest] = []

    def backend(request: ModelRequest) -> str:
        seen.append(request)
        return json.dumps({"output": "ok", "patch": []})

    tools = [tool("get_user", ["user_id"], read_only=True), tool("get_order", ["order_id"], read_only=True)]
    envs = EnvironmentSet.build([shop(tools, big_state())], model=FunctionModel(backend))
    await call(envs, "get_user", {"user_id": "user_1"})
    await call(envs, "get_order", {"order_id": "#W00020"})
    first, second = seen
    assert first.messages[0] == second.messages[0] and first.cache_prefix == second.cache_prefix == 1
    system = first.messages[0].content or ""
    assert '"name": "get_order"' in system and '"name": "get_user"' in system  # every contract, in any call
    assert "user_1" not in system and "#W00020" not in (second.messages[0].content or "")


_JSON = st.recursive(
    st.one_of(
        st.integers(), st.text(alphabet="abc xyz", max_size=8), st.booleans(), st.none(), st.floats(allow_nan=False)
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=5), st.dictionaries(st.text("abcd", max_size=4), inner, max_size=5)
    ),
    max_leaves=40,
)


@settings(max_examples=100, deadline=None)
@given(value=_JSON, limit=st.integers(0, 400))
def test_the_size_check_agrees_with_the_rendered_length(value: Any, limit: int) -> None:
    # Exact for JSON without string escapes (what the prompt renders: json.dumps with its default separators).
    assert larger_than(value, limit) == (len(json.dumps(value)) > limit)

"""Tracked state views: plain dict/list semantics for tool authors, and the patch of exactly what changed.

The property tests run the same random mutation program on a plain deep copy and on a view over a
committed state tree: the view must end up equal to the plain result (same keys in the same order),
its patch must turn the old state into the new one (checked with the jsonpatch library), committing
it must give the same state and the Merkle hash of that state, and the shared base never changes.
"""

from __future__ import annotations

import copy
import json
import pickle
from typing import Any

import jsonpatch
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from envsim.environments.merkle import merkle_hash
from envsim.environments.overlay import json_equal, to_plain
from envsim.environments.state_tree import SharedState, StateTree
from envsim.environments.tracked_state import ReadOnlyStateError, close_view, open_view, view_patch
from tests.environments.state_programs import draw_step, json_objects, run

SHOP = {
    "orders": {
        "#W1": {"status": "pending", "items": [{"id": "i1", "price": 3.5}], "tags": ["new"]},
        "#W2": {"status": "delivered", "items": [], "tags": []},
    },
    "users": {"u1": {"name": "Ann", "orders": ["#W1"]}},
}


def tree_of(state: dict[str, Any]) -> StateTree:
    return StateTree(SharedState.of(state))


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_objects, st.data())
def test_a_view_behaves_like_a_plain_copy_and_its_patch_is_the_change(initial: dict[str, Any], data: Any) -> None:
    tree = tree_of(initial)
    for _round in range(2):  # a second round runs over committed overlay nodes, not just the base
        before = tree.materialize()
        plain = copy.deepcopy(before)
        view = open_view(tree.root, read_only=False)
        for _ in range(data.draw(st.integers(1, 6))):
            step = draw_step(data, plain)
            run(plain, step)
            run(view, step)
        after = to_plain(view)
        assert json_equal(after, plain)
        assert json.dumps(view) == json.dumps(plain)  # json.dumps sees the view, in the same key order
        patch = view_patch(view)
        assert json_equal(jsonpatch.apply_patch(before, patch), plain)
        assert (patch == []) == json_equal(before, plain)
        tree.apply(patch)
        assert json_equal(tree.materialize(), plain)
        assert tree.hash == merkle_hash(plain)
    assert tree.shared.value == initial  # the shared base is never touched


def test_plain_dict_and_list_semantics_of_a_view() -> None:
    view = open_view(tree_of(SHOP).root, read_only=False)
    order = view["orders"]["#W1"]
    assert isinstance(view, dict) and isinstance(order["items"], list)
    assert sorted(view) == ["orders", "users"] and len(view["orders"]) == 2
    assert dict(view["users"]) == {"u1": {"name": "Ann", "orders": ["#W1"]}}
    assert {**order}["status"] == "pending" and order.get("missing", 7) == 7
    assert [k for k, _ in view["orders"].items()] == ["#W1", "#W2"]
    assert copy.deepcopy(order) == SHOP["orders"]["#W1"] and type(copy.deepcopy(order)) is dict
    assert pickle.loads(pickle.dumps(order)) == SHOP["orders"]["#W1"]
    assert json.loads(json.dumps(view, sort_keys=True, indent=2)) == SHOP
    order["status"] = "cancelled"
    order["items"].append({"id": "i2", "price": 1})
    order["items"][0]["price"] = 4
    order["tags"][:] = ["x", "y"]
    order.setdefault("cancel_reason", "no longer needed")
    view["users"]["u1"]["orders"].remove("#W1")
    del view["orders"]["#W2"]
    assert view["orders"] == {
        "#W1": {
            "status": "cancelled",
            "items": [{"id": "i1", "price": 4}, {"id": "i2", "price": 1}],
            "tags": ["x", "y"],
            "cancel_reason": "no longer needed",
        }
    }
    # Objects: exactly the touched keys. Arrays with an insertion or removal: json_diff of that array
    # (appends and truncations at the end, otherwise the array is replaced).
    assert view_patch(view) == [
        {"op": "add", "path": "/orders/#W1/cancel_reason", "value": "no longer needed"},
        {"op": "replace", "path": "/orders/#W1/items", "value": [{"id": "i1", "price": 4}, {"id": "i2", "price": 1}]},
        {"op": "replace", "path": "/orders/#W1/status", "value": "cancelled"},
        {"op": "replace", "path": "/orders/#W1/tags", "value": ["x", "y"]},
        {"op": "remove", "path": "/orders/#W2"},
        {"op": "remove", "path": "/users/u1/orders/0"},
    ]
    view2 = open_view(tree_of(SHOP).root, read_only=False)
    view2["orders"]["#W1"]["items"][0]["price"] = 4  # in place, no insertion: a single replace
    view2["orders"]["#W1"]["tags"].append("sale")
    assert view_patch(view2) == [
        {"op": "replace", "path": "/orders/#W1/items/0/price", "value": 4},
        {"op": "add", "path": "/orders/#W1/tags/1", "value": "sale"},
    ]


def test_values_the_tool_keeps_mutating_after_storing_them_are_recorded_as_they_end() -> None:
    view = open_view(tree_of(SHOP).root, read_only=False)
    note = {"text": "hi"}
    view["orders"]["#W1"]["note"] = note
    note["text"] = "bye"  # plain-dict aliasing: the stored object is the tool's own
    assert view_patch(view) == [{"op": "add", "path": "/orders/#W1/note", "value": {"text": "bye"}}]


def test_setting_a_value_to_what_it_already_is_records_nothing() -> None:
    view = open_view(tree_of(SHOP).root, read_only=False)
    view["orders"]["#W1"]["status"] = "pending"
    view["users"]["u1"] = {"name": "Ann", "orders": ["#W1"]}
    assert view_patch(view) == []


def test_non_json_values_are_reported_when_the_patch_is_taken() -> None:
    view = open_view(tree_of(SHOP).root, read_only=False)
    view["orders"]["#W1"]["when"] = object()
    with pytest.raises(TypeError, match="not JSON serializable"):
        view_patch(view)
    view["orders"]["#W1"]["when"] = float("nan")
    with pytest.raises(ValueError, match="not JSON compliant"):
        view_patch(view)


@pytest.mark.parametrize(
    "write",
    [
        lambda s: s["orders"]["#W1"].__setitem__("status", "x"),
        lambda s: s["orders"].pop("#W1"),
        lambda s: s["orders"]["#W1"]["items"].append(1),
        lambda s: s["orders"]["#W1"]["tags"].sort(),
        lambda s: s["users"].update(u2={}),
        lambda s: s["users"]["u1"]["orders"].clear(),
        lambda s: s.setdefault("new", 1),
    ],
)
def test_a_read_only_view_rejects_every_write_without_copying(write: Any) -> None:
    tree = tree_of(SHOP)
    view = open_view(tree.root, read_only=True)
    with pytest.raises(ReadOnlyStateError, match="read-only"):
        write(view)
    assert view._ctx.violation is not None  # remembered even if the tool swallows the exception
    assert tree.materialize() == SHOP


def test_a_closed_view_refuses_late_writes() -> None:
    view = open_view(tree_of(SHOP).root, read_only=False)
    close_view(view)
    with pytest.raises(ReadOnlyStateError, match="has ended"):
        view["orders"]["#W1"]["status"] = "late"


def test_committed_state_cannot_be_mutated_behind_the_hash() -> None:
    tree = tree_of(SHOP)
    with pytest.raises(TypeError, match="only through a step"):
        tree.root["orders"] = {}  # type: ignore[index]
    tree.apply([{"op": "replace", "path": "/orders/#W1/status", "value": "cancelled"}])
    with pytest.raises(TypeError, match="only through a step"):
        tree.root["orders"]["#W1"]["status"] = "x"
    assert tree.materialize()["orders"]["#W1"]["status"] == "cancelled"
    assert tree.hash == merkle_hash(tree.materialize())

"""The state store: proposed patches behave like RFC 6902 (checked against the jsonpatch library),
are checked under the rule, commit with an O(change) hash, and initial + recorded patches == final."""

from __future__ import annotations

import copy
import gc
from typing import Any

import jsonpatch
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from envsim.environments import shared_states
from envsim.environments.json_diff import escape
from envsim.environments.merkle import merkle_hash
from envsim.environments.state_store import StateStore
from envsim.environments.state_tree import SharedState
from tests.environments.state_programs import json_objects, json_values


def pointers(value: Any, path: str = "") -> list[str]:
    found = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            found += pointers(item, f"{path}/{escape(key)}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += pointers(item, f"{path}/{index}")
    return found


@st.composite
def raw_operation(draw: Any, state: dict[str, Any]) -> dict[str, Any]:
    existing = pointers(state)
    op = draw(st.sampled_from(["add", "remove", "replace", "move", "copy", "test"]))
    path = draw(st.sampled_from([*existing, *(p + "/-" for p in existing), "/new", "/nope/x", "/0"]))
    operation: dict[str, Any] = {"op": op, "path": path}
    if op in ("add", "replace", "test"):
        operation["value"] = draw(json_values)
    if op in ("move", "copy"):
        operation["from"] = draw(st.sampled_from(existing))
    return operation


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_objects, st.data())
def test_proposed_patches_apply_exactly_like_rfc_6902(state: dict[str, Any], data: Any) -> None:
    store = StateStore(SharedState.of(state), None)
    patch = [data.draw(raw_operation(state)) for _ in range(data.draw(st.integers(1, 3)))]
    # Where the jsonpatch library departs from RFC 6902 (moving a value into its own child, which the RFC
    # forbids; moving or copying the whole document, which the RFC allows; refusing replace/remove/test of
    # an object's key "-", which is only special in arrays), it is no reference.
    assume(not any(op["op"] == "move" and (op["path"] + "/").startswith(op["from"] + "/") for op in patch))
    assume(not any(op.get("from") == "" for op in patch))
    assume(not any(op["op"] in ("replace", "remove", "test") and op["path"].endswith("/-") for op in patch))
    try:
        # jsonpatch inserts the patch's own values (a later op would then change the patch): give it a copy
        expected: Any = jsonpatch.apply_patch(copy.deepcopy(state), copy.deepcopy(patch))
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, TypeError, KeyError, IndexError):
        expected = None
    if not isinstance(expected, dict):  # the library failed, or replaced the state with a non-object
        expected = None
    transition = store.propose_patch(patch, read_only=False)
    if expected is None:
        assert not transition.ok and store.materialize() == state
        return
    assert transition.ok, transition.rejected
    store.commit(transition)
    assert store.materialize() == expected
    assert store.hash == merkle_hash(expected)
    assert jsonpatch.apply_patch(copy.deepcopy(state), copy.deepcopy(transition.patch)) == expected  # recorded


SCHEMA = {"type": "object", "properties": {"n": {"type": "integer", "minimum": 0}}, "required": ["n"]}


def test_the_rule_read_only_invalid_and_unchanged() -> None:
    store = StateStore(SharedState.of({"n": 1, "log": []}), SCHEMA)
    bump = [{"op": "replace", "path": "/n", "value": 2}]
    assert store.propose_patch(bump, read_only=True).rejected == (
        "this tool is read-only and must not change the state; the change was discarded"
    )
    same = store.propose_patch([{"op": "replace", "path": "/n", "value": 1}], read_only=True)
    assert same.ok and same.patch == []  # no change: allowed even for a read-only tool
    invalid = store.propose_patch([{"op": "remove", "path": "/n"}], read_only=False)
    assert invalid.rejected == "the new state would not match the state schema: at /: 'n' is a required property"
    bad = store.propose_patch([{"op": "replace", "path": "/m", "value": 0}], read_only=False)
    assert (bad.rejected or "").startswith("the state patch was not applied: operation 0 (replace /m)")
    assert store.materialize() == {"n": 1, "log": []}


def test_a_whole_new_state_is_diffed() -> None:
    store = StateStore(SharedState.of({"n": 1, "log": ["a"]}), SCHEMA)
    transition = store.propose_state({"n": 3, "log": ["a", "b"]}, read_only=False)
    assert transition.patch == [
        {"op": "add", "path": "/log/1", "value": "b"},
        {"op": "replace", "path": "/n", "value": 3},
    ]
    store.commit(transition)
    assert store.materialize() == {"n": 3, "log": ["a", "b"]}
    not_json = store.propose_state({"n": {1, 2}}, read_only=False)
    assert "not JSON-serializable" in (not_json.rejected or "")


def test_the_hash_tracks_every_commit() -> None:
    store = StateStore(SharedState.of({"orders": {f"#W{i}": {"status": "pending"} for i in range(500)}}), None)
    for i in range(0, 500, 50):
        transition = store.propose_patch(
            [{"op": "replace", "path": f"/orders/#W{i}/status", "value": "cancelled"}], read_only=False
        )
        store.commit(transition)
        assert store.hash == merkle_hash(store.materialize())


@pytest.mark.parametrize("state", [{}, {"a": [1, {"b": None}], "c": "é"}, {"x": 1.5, "y": True, "z": 0}])
def test_the_reference_implementation_in_the_docs_gives_the_same_hash(state: dict[str, Any]) -> None:
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "state.md").read_text()
    code = doc.split("```python\n# reference implementation\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, Any] = {}
    exec(code, namespace)  # our own documentation, tested so it stays true
    assert namespace["state_hash"](state) == merkle_hash(state)


def test_a_dash_is_an_ordinary_key_of_an_object() -> None:
    # RFC 6901: "-" names the end of an array only; in an object it is a key like any other.
    store = StateStore(SharedState.of({"c": {}, "x~1": {}, "items": [1]}), None)
    patch = [
        {"op": "move", "path": "/x~01/-", "from": "/c"},
        {"op": "replace", "path": "/x~01/-", "value": None},
        {"op": "add", "path": "/items/-", "value": 2},
    ]
    transition = store.propose_patch(patch, read_only=False)
    assert transition.ok, transition.rejected
    store.commit(transition)
    assert store.materialize() == {"x~1": {"-": None}, "items": [1, 2]}


def test_a_large_catalog_state_is_frozen_out_of_the_cyclic_collector() -> None:
    """A full GC pass walks every live container: a large shared state is moved out of its sight once."""
    small = {"users": {f"u{i}": {"tags": [i]} for i in range(10)}}
    count = shared_states.GC_FREEZE_MIN_CONTAINERS
    large = {"users": {f"u{i}": {"tags": [i]} for i in range(count)}}
    gc.unfreeze()
    try:
        shared_states.shared_initial_state(small)
        assert gc.get_freeze_count() == 0
        shared = shared_states.shared_initial_state(large)
        assert gc.get_freeze_count() > 2 * count  # its objects and arrays, and everything else alive
        assert all(alive is not shared.value for alive in gc.get_objects(generation=2))  # in the permanent one
    finally:
        gc.unfreeze()

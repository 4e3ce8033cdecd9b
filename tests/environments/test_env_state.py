"""State helpers: patches apply precisely or fail precisely; the state rule never half-applies."""

from __future__ import annotations

import copy

import pytest

from envsim.canonical import stable_hash
from envsim.environments.merkle import merkle_hash
from envsim.environments.state import (
    PatchError,
    apply_patch,
    canonical_sha256,
    diff_states,
    hash_matches,
    propose_patch,
    propose_state,
    state_hash,
    validate_state,
)

SCHEMA = {
    "type": "object",
    "required": ["tickets"],
    "properties": {
        "tickets": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "required": ["status"],
                "properties": {"status": {"enum": ["open", "closed"]}},
            },
        }
    },
}
STATE = {"tickets": {"T-1": {"status": "open"}}}


def test_apply_patch_returns_a_new_state_and_leaves_the_input_alone() -> None:
    before = copy.deepcopy(STATE)
    after = apply_patch(STATE, [{"op": "replace", "path": "/tickets/T-1/status", "value": "closed"}])
    assert after == {"tickets": {"T-1": {"status": "closed"}}}
    assert before == STATE


@pytest.mark.parametrize(
    ("patch", "expected"),
    [
        ([{"op": "replace", "path": "/tickets/T-9/status", "value": "x"}], "operation 0 (replace /tickets/T-9/status)"),
        ([{"op": "add", "path": "/a", "value": 1}, {"op": "remove", "path": "/b"}], "operation 1 (remove /b)"),
        ([{"op": "frobnicate", "path": "/a"}], "operation 0 (frobnicate /a): invalid operation"),
        ([{"op": "test", "path": "/tickets/T-1/status", "value": "closed"}], "test failed"),
        ([{"path": "/a"}], "operation 0 (? /a)"),
        (["nope"], "operation 0: each operation must be an object"),
    ],
)
def test_apply_patch_names_the_failing_operation(patch: list, expected: str) -> None:
    with pytest.raises(PatchError) as info:
        apply_patch(STATE, patch)
    assert expected in str(info.value)


def test_apply_patch_rejects_a_non_list() -> None:
    with pytest.raises(PatchError, match="must be a list of operations"):
        apply_patch(STATE, {"op": "add"})


def test_diff_then_apply_round_trips() -> None:
    after = {"tickets": {"T-1": {"status": "closed"}, "T-2": {"status": "open"}}}
    patch = diff_states(STATE, after)
    assert patch
    assert apply_patch(STATE, patch) == after
    assert diff_states(STATE, copy.deepcopy(STATE)) == []


def test_state_hash_is_the_merkle_hash_and_ignores_key_order() -> None:
    assert state_hash(STATE) == merkle_hash(STATE) != stable_hash(STATE)
    assert canonical_sha256(STATE) == stable_hash(STATE)
    assert hash_matches(state_hash(STATE), STATE) and hash_matches(stable_hash(STATE), STATE)
    assert not hash_matches(state_hash({"other": 1}), STATE)
    assert state_hash({"a": 1, "b": 2}) == state_hash({"b": 2, "a": 1})
    assert len(state_hash(STATE)) == 64


def test_validate_state() -> None:
    assert validate_state(SCHEMA, STATE) == []
    assert validate_state(SCHEMA, {"tickets": {"T-1": {"status": "lost"}}}) == [
        "at /tickets/T-1/status: 'lost' is not one of ['open', 'closed']"
    ]
    assert validate_state(None, [1]) == ["the state must be a JSON object, got array"]


def test_propose_patch_accepts_a_valid_change() -> None:
    patch = [{"op": "replace", "path": "/tickets/T-1/status", "value": "closed"}]
    t = propose_patch(STATE, patch, SCHEMA, read_only=False)
    assert t.ok and t.patch == patch and t.state["tickets"]["T-1"]["status"] == "closed"
    assert STATE["tickets"]["T-1"]["status"] == "open"


def test_propose_patch_rejects_without_touching_state() -> None:
    invalid = propose_patch(
        STATE, [{"op": "replace", "path": "/tickets/T-1/status", "value": "lost"}], SCHEMA, read_only=False
    )
    assert not invalid.ok and "would not match the state schema" in (invalid.rejected or "")
    assert invalid.state is STATE and invalid.patch == []

    conflict = propose_patch(STATE, [{"op": "remove", "path": "/tickets/T-2"}], SCHEMA, read_only=False)
    assert not conflict.ok and "operation 0 (remove /tickets/T-2)" in (conflict.rejected or "")

    read_only = propose_patch(
        STATE, [{"op": "add", "path": "/tickets/T-2", "value": {"status": "open"}}], SCHEMA, read_only=True
    )
    assert not read_only.ok and "read-only" in (read_only.rejected or "")


def test_read_only_may_send_a_patch_that_changes_nothing() -> None:
    t = propose_patch(STATE, [{"op": "test", "path": "/tickets/T-1/status", "value": "open"}], SCHEMA, read_only=True)
    assert t.ok and t.patch == []


def test_propose_state_diffs_and_rejects_non_json() -> None:
    new = {"tickets": {"T-1": {"status": "open"}, "T-2": {"status": "closed"}}}
    t = propose_state(STATE, new, SCHEMA, read_only=False)
    assert t.ok and apply_patch(STATE, t.patch) == new

    bad = propose_state(STATE, {"tickets": {}, "when": object()}, SCHEMA, read_only=False)
    assert not bad.ok and "not JSON-serializable" in (bad.rejected or "")
    not_object = propose_state(STATE, [1], SCHEMA, read_only=False)
    assert not not_object.ok and "must be a JSON object" in (not_object.rejected or "")

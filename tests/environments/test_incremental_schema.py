"""Incremental validation gives the verdict of full validation, for random schemas, states and changes.

Given a valid state, a random mutation program runs on a view; the validator's verdict on the changed
paths must equal jsonschema's verdict on the whole new state. Fixed cases cover the fallbacks (each
says why) and the shipped retail schema, whose local `$ref`s are checked incrementally.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from envsim.config.loader import load_environment_catalog
from envsim.environments.incremental_schema import IncrementalValidator
from envsim.environments.overlay import to_plain
from envsim.environments.schema import schema_errors
from envsim.environments.state_store import changes_of
from envsim.environments.state_tree import SharedState, StateTree
from envsim.environments.tracked_state import open_view, view_patch
from tests.environments.state_programs import KEYS, draw_step, json_objects, run

RETAIL = Path(__file__).resolve().parents[2] / "environments" / "retail" / "retail.yaml"

leaf_schemas = st.sampled_from(
    [
        {},
        True,
        {"type": "integer"},
        {"type": "string"},
        {"type": ["integer", "null"]},
        {"minimum": 0},
        {"enum": [1, "a", None, True]},
        {"maxLength": 1},
        {"$ref": "#/$defs/d"},
        {"type": "object"},
        {"type": "array"},
    ]
)


def composite(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    objects = st.fixed_dictionaries(
        {"type": st.just("object")},
        optional={
            "properties": st.dictionaries(KEYS, inner, max_size=3),
            "required": st.lists(KEYS, max_size=2, unique=True),
            "additionalProperties": inner | st.just(False),
            "patternProperties": st.dictionaries(st.sampled_from(["^a", "z$", "~"]), inner, max_size=1),
            "minProperties": st.integers(0, 2),
            "maxProperties": st.integers(1, 4),
            "propertyNames": st.sampled_from([{"maxLength": 1}, {"pattern": "^[a-d]"}]),
            "dependentRequired": st.dictionaries(KEYS, st.lists(KEYS, max_size=1, unique=True), max_size=1),
            "allOf": st.lists(inner, max_size=1),
        },
    )
    arrays = st.fixed_dictionaries(
        {"type": st.just("array")},
        optional={
            "items": inner,
            "prefixItems": st.lists(inner, max_size=2),
            "minItems": st.integers(0, 2),
            "maxItems": st.integers(1, 4),
            "uniqueItems": st.booleans(),
        },
    )
    non_local = st.one_of(
        st.builds(lambda a, b: {"anyOf": [a, b]}, inner, inner),
        st.builds(lambda a, b: {"oneOf": [a, b]}, inner, inner),
        st.builds(lambda a: {"not": a}, inner),
        st.builds(lambda a, b, c: {"if": a, "then": b, "else": c}, inner, inner, inner),
        st.just({"const": {"a": 1}}),
        st.just({"enum": [[], {}, [1]]}),
        st.builds(lambda a: {"contains": a}, inner),
        st.builds(lambda a: {"dependentSchemas": {"a": a}}, inner),
    )
    return objects | arrays | non_local


schemas = st.recursive(leaf_schemas, composite, max_leaves=10)
defs = st.sampled_from([{"type": "object"}, {"type": ["string", "integer"]}, {"minimum": 1}, {"not": {"type": "null"}}])


@st.composite
def root_schemas(draw: Any) -> dict[str, Any]:
    root = draw(
        st.fixed_dictionaries(
            {"type": st.just("object")},
            optional={
                "properties": st.dictionaries(KEYS, schemas, max_size=4),
                "required": st.lists(KEYS, max_size=2, unique=True),
                "additionalProperties": schemas,
                "patternProperties": st.dictionaries(st.sampled_from(["^a", "z$"]), schemas, max_size=1),
                "minProperties": st.integers(0, 2),
                "maxProperties": st.integers(2, 5),
            },
        )
    )
    root["$defs"] = {"d": draw(defs)}
    return root


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(root_schemas(), json_objects, st.data())
def test_incremental_verdict_equals_full_validation(schema: dict[str, Any], state: dict[str, Any], data: Any) -> None:
    assume(schema_errors(schema, state) == [])
    validator = IncrementalValidator(schema)
    assert validator.fallback_reason is None
    tree = StateTree(SharedState.of(state))
    view = open_view(tree.root, read_only=False)
    plain = to_plain(view)
    for _ in range(data.draw(st.integers(1, 4))):
        step = draw_step(data, plain)
        run(plain, step)
        run(view, step)
    patch = view_patch(view)
    incremental = validator.errors(view, changes_of(patch))
    full = schema_errors(schema, plain)
    event(f"the new state is {'invalid' if full else 'valid'}")  # both verdicts must be well represented
    assert bool(incremental) == bool(full), (incremental, full, patch)


def retail_schema() -> dict[str, Any]:
    params = load_environment_catalog(RETAIL).environments[0].state_params
    assert params is not None and params.state_schema is not None
    return params.state_schema


def test_the_retail_schema_is_checked_incrementally(monkeypatch: pytest.MonkeyPatch) -> None:
    params = load_environment_catalog(RETAIL).environments[0].state_params
    assert params is not None and params.state_schema is not None
    validator = IncrementalValidator(params.state_schema)
    assert validator.fallback_reason is None  # local $refs, if/then inside payment methods: all local
    monkeypatch.setattr(validator, "full_errors", lambda state: pytest.fail("validated the whole state"))
    tree = StateTree(SharedState.of(params.initial_state))
    order_id = next(iter(params.initial_state["orders"]))
    user_id = next(iter(params.initial_state["users"]))
    view = open_view(tree.root, read_only=False)
    view["orders"][order_id]["status"] = "cancelled"
    assert validator.errors(view, changes_of(view_patch(view))) == []
    view["orders"][order_id]["status"] = "lost"
    view["orders"][order_id]["items"] = []
    del view["users"][user_id]["email"]
    problems = validator.errors(view, changes_of(view_patch(view)))
    assert problems == [
        f"at /orders/{order_id}/items: [] should be non-empty",
        f"at /orders/{order_id}/status: 'lost' is not one of ['pending', 'pending (item modified)', 'processed', "
        "'delivered', 'cancelled', 'return requested', 'exchange requested']",
        f"at /users/{user_id}: 'email' is a required property",
    ]
    # if/then inside a payment method: a gift card needs a balance (checked on that payment method only).
    card = {"source": "gift_card", "id": "gift_card_1"}
    view2 = open_view(tree.root, read_only=False)
    view2["users"][user_id]["payment_methods"]["gift_card_1"] = card
    assert validator.errors(view2, changes_of(view_patch(view2))) == [
        f"at /users/{user_id}/payment_methods/gift_card_1: 'balance' is a required property"
    ]


@pytest.mark.parametrize(
    ("schema", "reason"),
    [
        ({"anyOf": [{"required": ["a"]}, {"required": ["b"]}]}, "root of the state schema uses anyOf"),
        ({"if": {"required": ["a"]}, "then": {"required": ["b"]}}, "root of the state schema uses if"),
        (
            {"$defs": {"node": {"additionalProperties": {"$ref": "#/$defs/node"}}}, "$ref": "#/$defs/node"},
            "$ref cycle",
        ),
        ({"properties": {"a": {"$ref": "https://example.com/a.json"}}}, "non-local $ref"),
        ({"$schema": "http://json-schema.org/draft-07/schema#"}, "Draft 2020-12 only"),
        ({"properties": {"a": {"$id": "inner", "type": "string"}}}, "$id/$anchor"),
    ],
)
def test_unsupported_constructs_fall_back_to_full_validation_and_say_why(schema: dict[str, Any], reason: str) -> None:
    validator = IncrementalValidator(schema)
    assert validator.fallback_reason is not None and reason in validator.fallback_reason
    state = {"z": 1}  # (no "a": the remote $ref is never resolved)
    assert validator.errors(state, [("replace", ["z"])]) == schema_errors(schema, state)

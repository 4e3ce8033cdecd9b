"""The fast verdict (jsonschema-rs) never changes a verdict or a message of jsonschema's.

`document_errors` answers "valid" from jsonschema-rs and leaves everything else to jsonschema; the
property test draws schemas with every keyword both implement (numbers, strings, arrays, objects,
applicators, local `$ref`s, the constructs kept from jsonschema-rs too) and JSON documents with the
values where implementations differ (1 / 1.0 / true, -0.0, huge integers, astral characters), and
requires exactly `schema_errors`'s answer.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from envsim.config.loader import load_environment_catalog
from envsim.environments import fast_schema as fast_schema_module
from envsim.environments.fast_schema import FastSchema, accepts
from envsim.environments.incremental_schema import IncrementalValidator
from envsim.environments.schema import document_errors, json_errors, schema_errors

ROOT = Path(__file__).resolve().parents[2]
KEYS = st.sampled_from(["a", "b", "c", "é", "a/b", "t~"])
numbers = st.one_of(
    st.integers(-3, 3),
    st.sampled_from([0.0, -0.0, 1.0, 0.5, 2.5, 1e308, 2**53 + 1, 2**64 + 1, -(2**70), 0.07, 0.3]),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    numbers,
    st.floats(-4, 4, allow_nan=False, allow_infinity=False, width=32),
    st.sampled_from(["", "a", "ab", "é", "😀", "a\n", "\ufeff", "éfoo", "2024-01-01", "x@y.z", "٣"]),
)
documents = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3), max_leaves=10
)
leaf_schemas = st.one_of(
    st.sampled_from(
        [
            {},
            True,
            False,
            {"type": "integer"},
            {"type": "number"},
            {"type": "string"},
            {"type": "boolean"},
            {"type": "null"},
            {"type": ["integer", "null"]},
            {"$ref": "#/$defs/d"},
            {"format": "date"},
            {"format": "email"},
            {"multipleOf": 0.01},
            {"multipleOf": 0.1},
            {"multipleOf": 2},
            {"pattern": "^a$"},
            {"pattern": "\\D"},
            {"pattern": "^\\s$"},
            {"pattern": "\\bfoo"},
            {"pattern": "^[^@\\s]+@[^@\\s]+$"},
            {"patternProperties": {"^a": {"type": "integer"}}, "additionalProperties": False},
            {"uniqueItems": True},
        ]
    ),
    st.builds(lambda n: {"minimum": n}, numbers),
    st.builds(lambda n: {"maximum": n}, numbers),
    st.builds(lambda n: {"exclusiveMinimum": n}, numbers),
    st.builds(lambda n: {"exclusiveMaximum": n}, numbers),
    st.builds(lambda n: {"minLength": n}, st.integers(0, 2)),
    st.builds(lambda n: {"maxLength": n}, st.integers(0, 2)),
    st.builds(lambda values: {"enum": values}, st.lists(scalars, min_size=1, max_size=3)),
    st.builds(lambda value: {"const": value}, documents),
)


def composite(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    objects = st.fixed_dictionaries(
        {},
        optional={
            "type": st.just("object"),
            "properties": st.dictionaries(KEYS, inner, max_size=3),
            "required": st.lists(KEYS, max_size=2, unique=True),
            "additionalProperties": inner,
            "minProperties": st.integers(0, 2),
            "maxProperties": st.integers(0, 3),
            "propertyNames": inner,
            "dependentRequired": st.dictionaries(KEYS, st.lists(KEYS, max_size=1, unique=True), max_size=1),
            "dependentSchemas": st.dictionaries(KEYS, inner, max_size=1),
            "unevaluatedProperties": inner,
        },
    )
    arrays = st.fixed_dictionaries(
        {},
        optional={
            "type": st.just("array"),
            "items": inner,
            "prefixItems": st.lists(inner, max_size=2),
            "contains": inner,
            "minContains": st.integers(0, 2),
            "maxContains": st.integers(0, 2),
            "minItems": st.integers(0, 2),
            "maxItems": st.integers(0, 3),
            "uniqueItems": st.booleans(),
            "unevaluatedItems": inner,
        },
    )
    applicators = st.one_of(
        st.builds(lambda a, b: {"anyOf": [a, b]}, inner, inner),
        st.builds(lambda a, b: {"oneOf": [a, b]}, inner, inner),
        st.builds(lambda a, b: {"allOf": [a, b]}, inner, inner),
        st.builds(lambda a: {"not": a}, inner),
        st.builds(lambda a, b, c: {"if": a, "then": b, "else": c}, inner, inner, inner),
    )
    return objects | arrays | applicators


schemas = st.recursive(leaf_schemas, composite, max_leaves=8)


@st.composite
def root_schemas(draw: Any) -> Any:
    root = draw(schemas)
    if isinstance(root, dict):
        root = {**root, "$defs": {"d": draw(leaf_schemas.filter(lambda s: s != {"$ref": "#/$defs/d"}))}}
    return root


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(root_schemas(), documents)
def test_document_errors_are_exactly_jsonschemas(schema: Any, document: Any) -> None:
    expected = schema_errors(schema, document)
    compiled = FastSchema(schema)
    event("jsonschema-rs decides" if compiled.reason is None else "left to jsonschema")
    event(f"the document is {'invalid' if expected else 'valid'}")
    if compiled.reason is None and compiled.accepts(schema, document):
        assert expected == [], "jsonschema-rs accepted what jsonschema rejects"
    assert document_errors(schema, document) == expected


@pytest.mark.parametrize(
    ("schema", "reason"),
    [
        ({"patternProperties": {"^a": {}}}, "patternProperties"),
        ({"$ref": "https://example.com/schema.json"}, "non-local $ref"),  # never fetched by jsonschema-rs
        ({"$schema": "http://json-schema.org/draft-07/schema#"}, "dialect"),
        ({"$defs": {"x": {"$schema": "https://json-schema.org/draft/2020-12/schema"}}}, "$schema below its root"),
        ({"$defs": {"x": {"$dynamicRef": "#x"}}}, "$dynamicRef"),
        # Data that a $ref can reach counts too.
        ({"allOf": [{"$ref": "#/default/0"}], "default": [{"patternProperties": {}}]}, "patternProperties"),
    ],
)
def test_constructs_where_the_two_differ_are_left_to_jsonschema(schema: dict[str, Any], reason: str) -> None:
    compiled = FastSchema(schema)
    assert compiled.reason is not None and reason in compiled.reason
    assert compiled.accepts(schema, {}) is False  # so document_errors is schema_errors


@pytest.mark.parametrize(
    ("schema", "document"),
    [
        ({"type": "number", "multipleOf": 0.01}, 0.07),  # jsonschema divides floats; jsonschema-rs is exact
        ({"properties": {"a": {"multipleOf": 0.1}}}, {"a": 0.3}),
        ({"pattern": "\\D"}, "٣"),  # an Arabic-Indic digit is a digit to Python, not to ECMA 262
        ({"pattern": "^\\s$"}, "\ufeff"),  # ECMA's \s has the BOM, Python's has not
        ({"propertyNames": {"pattern": "\\D"}}, {"٣": 1}),
    ],
)
def test_pattern_and_multiple_of_are_jsonschemas_own(schema: dict[str, Any], document: Any) -> None:
    # jsonschema-rs alone accepts each of these; with jsonschema's keyword code inside it, it does not.
    assert FastSchema(schema).reason is None
    assert FastSchema(schema).accepts(schema, document) is False
    assert document_errors(schema, document) == schema_errors(schema, document) != []


def test_a_property_named_like_a_keyword_is_just_a_name() -> None:
    schema = {"type": "object", "properties": {"pattern": {"type": "string"}, "multipleOf": {"type": "integer"}}}
    assert FastSchema(schema).reason is None
    assert document_errors(schema, {"pattern": "x", "multipleOf": 2}) == []
    assert document_errors(schema, {"pattern": 1}) == ["at /pattern: 1 is not of type 'string'"]


def test_invalid_documents_get_jsonschemas_messages() -> None:
    schema = {"type": "object", "required": ["id"], "properties": {"qty": {"type": "integer", "minimum": 1}}}
    assert FastSchema(schema).reason is None
    assert document_errors(schema, {"qty": 0}) == [
        "at /: 'id' is a required property",
        "at /qty: 0 is less than the minimum of 1",
    ]


def test_values_jsonschema_rs_cannot_take_are_left_to_jsonschema() -> None:
    schema = {"type": "object", "properties": {"when": {"type": "string"}}}
    day = {"when": datetime.date(2024, 1, 1)}
    assert FastSchema(schema).accepts(schema, day) is False
    assert document_errors(schema, day) == schema_errors(schema, day) != []


def test_json_errors_validate_what_json_dumps_writes() -> None:
    # A tuple is written as an array; jsonschema alone calls it "not of type 'array'".
    schema = {"type": "array", "items": {"type": "integer"}}
    assert json_errors(schema, (1, 2)) == []
    assert json_errors(schema, (1, "x")) == ["at /1: 'x' is not of type 'integer'"]
    assert schema_errors(schema, (1, 2)) == ["at /: (1, 2) is not of type 'array'"]
    assert json_errors({"type": "object"}, {"a": {1, 2}}) == []  # no JSON form: jsonschema, as it is


def test_without_jsonschema_rs_everything_goes_to_jsonschema(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fast_schema_module, "jsonschema_rs", None)
    schema = {"type": "object", "required": ["id"]}
    compiled = FastSchema(schema)
    assert compiled.reason == "the jsonschema_rs package is not installed"
    assert compiled.accepts(schema, {"id": 1}) is False
    assert IncrementalValidator({"type": "object", "required": ["id"]}).full_errors({}) == [
        "at /: 'id' is a required property"
    ]


@pytest.mark.parametrize("catalog", ["retail/retail.yaml", "support.yaml"])
def test_the_shipped_state_schemas_get_the_fast_verdict(catalog: str) -> None:
    for env in load_environment_catalog(ROOT / "environments" / catalog).environments:
        if env.state_params is not None and env.state_params.state_schema is not None:
            schema = env.state_params.state_schema
            assert FastSchema(schema).reason is None
            assert accepts(schema, env.state_params.initial_state)
            assert accepts({**schema}, env.state_params.initial_state)  # another object, the same content

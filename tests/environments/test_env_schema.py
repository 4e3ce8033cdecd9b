"""Schema defaults and readable validation errors (used by the loader and by every environment)."""

from __future__ import annotations

import copy

from envsim.environments.schema import check_schema, fill_defaults, schema_errors

ORDER = {
    "type": "object",
    "properties": {
        "currency": {"type": "string", "default": "EUR"},
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"sku": {"type": "string"}, "qty": {"type": "integer", "minimum": 1, "default": 1}},
                "required": ["sku"],
            },
        },
        "shipping": {
            "type": "object",
            "default": {},
            "properties": {"method": {"type": "string", "default": "standard"}},
        },
    },
    "required": ["items"],
}


def test_fill_defaults_fills_nested_objects_and_array_items_without_mutating_input() -> None:
    value = {"items": [{"sku": "a"}, {"sku": "b", "qty": 3}]}
    before = copy.deepcopy(value)
    filled = fill_defaults(ORDER, value)
    assert filled == {
        "currency": "EUR",
        "items": [{"sku": "a", "qty": 1}, {"sku": "b", "qty": 3}],
        "shipping": {"method": "standard"},
    }
    assert value == before


def test_fill_defaults_keeps_given_values_and_follows_local_refs() -> None:
    schema = {
        "type": "object",
        "properties": {"address": {"$ref": "#/$defs/Address"}},
        "$defs": {"Address": {"type": "object", "properties": {"country": {"type": "string", "default": "FR"}}}},
    }
    assert fill_defaults(schema, {"address": {}}) == {"address": {"country": "FR"}}
    assert fill_defaults(schema, {"address": {"country": "DE"}}) == {"address": {"country": "DE"}}


def test_fill_defaults_leaves_wrongly_typed_values_for_validation_to_report() -> None:
    assert fill_defaults(ORDER, {"items": "nope"}) == {
        "items": "nope",
        "currency": "EUR",
        "shipping": {"method": "standard"},
    }


def test_schema_errors_name_the_json_pointer_of_each_violation() -> None:
    errors = schema_errors(ORDER, {"items": [{"sku": "a", "qty": -1}, {"qty": 2}]})
    assert errors == [
        "at /items/0/qty: -1 is less than the minimum of 1",
        "at /items/1: 'sku' is a required property",
    ]


def test_schema_errors_top_level_and_valid() -> None:
    assert schema_errors(ORDER, {}) == ["at /: 'items' is a required property"]
    assert schema_errors(ORDER, {"items": []}) == []


def test_schema_errors_default_to_draft_2020_12() -> None:
    tuple_schema = {"type": "array", "prefixItems": [{"type": "integer"}], "items": False}
    assert schema_errors(tuple_schema, [1]) == []
    assert schema_errors(tuple_schema, [1, 2]) != []


def test_check_schema_reports_a_broken_schema() -> None:
    assert check_schema({"type": "object"}) == []
    assert check_schema({"type": "objec"})
    assert check_schema([1]) == ["a JSON Schema must be an object, got list"]


def test_optional_values_report_the_real_problem_not_the_anyof() -> None:
    schema = {"type": "object", "properties": {"x": {"anyOf": [{"type": "integer", "minimum": 3}, {"type": "null"}]}}}
    assert schema_errors(schema, {"x": 1}) == ["at /x: 1 is less than the minimum of 3"]
    assert schema_errors(schema, {"x": None}) == []


def test_ambiguous_anyof_names_the_closest_branch() -> None:
    schema = {"anyOf": [{"type": "object", "required": ["a"]}, {"type": "object", "required": ["error"]}]}
    (line,) = schema_errors(schema, {})
    assert line.startswith("at /: {} is not valid under any of the given schemas (closest: ")

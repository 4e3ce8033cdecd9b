"""MockModel: deterministic replies that are always valid for the request."""

from __future__ import annotations

import json
import random
import re
from typing import Any

import jsonschema
from hypothesis import given, settings
from hypothesis import strategies as st

from envsim.messages import Message, ToolSpec
from envsim.models.base import GenerationParams, ModelRequest
from envsim.models.mock import MockModel
from envsim.models.schema_instance import regex_instance, valid_instance

NAMES = st.sampled_from(["id", "name", "email", "start_date", "count", "tags", "note", "order_id", "x"])
PATTERNS = st.sampled_from([r"^[A-Z]{3}-\d{4}$", r"^ORD-[0-9]{6}$", r"[a-z]+@[a-z]+\.com", r"^(yes|no)$"])


def _sized_string(lo: int, extra: int) -> dict[str, Any]:
    return {"type": "string", "minLength": lo, "maxLength": lo + extra}


def _int_range(lo: int, span: int) -> dict[str, Any]:
    return {"type": "integer", "minimum": lo, "maximum": lo + span}


def _number(lo: int, exclusive: bool) -> dict[str, Any]:
    if exclusive:
        return {"type": "number", "exclusiveMinimum": lo, "maximum": lo + 10}
    return {"type": "number", "minimum": lo}


def _array(items: dict[str, Any], lo: int, unique: bool) -> dict[str, Any]:
    schema = {"type": "array", "items": items, "minItems": lo}
    if unique and lo <= 1:  # more would make some item schemas unsatisfiable (e.g. unique booleans x3)
        schema["uniqueItems"] = True
    return schema


FIXED_LEAVES = [
    {"type": "string", "format": "date"},
    {"type": "string", "format": "email"},
    {"const": "fixed"},
    {"type": "boolean"},
    {"type": "null"},
    {"type": ["string", "null"]},
    {"type": "integer", "multipleOf": 5},
]


def leaf() -> st.SearchStrategy[dict[str, Any]]:
    enums = st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=4, unique=True)
    return st.one_of(
        st.just({"type": "string"}),
        st.builds(_sized_string, st.integers(0, 12), st.integers(0, 20)),
        enums.map(lambda values: {"type": "string", "enum": values}),
        PATTERNS.map(lambda p: {"type": "string", "pattern": p}),
        st.builds(_int_range, st.integers(-50, 50), st.integers(0, 30)),
        st.builds(_number, st.integers(-10, 10), st.booleans()),
        st.sampled_from(FIXED_LEAVES),
    )


def extend(children: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    def obj(props: dict[str, Any], closed: bool, data: st.DataObject) -> dict[str, Any]:
        required = data.draw(st.lists(st.sampled_from(sorted(props)), unique=True)) if props else []
        schema: dict[str, Any] = {"type": "object", "properties": props, "required": required}
        if closed:
            schema["additionalProperties"] = False
        return schema

    objects = st.builds(obj, st.dictionaries(NAMES, children, max_size=4), st.booleans(), st.data())
    arrays = st.builds(_array, children, st.integers(0, 3), st.booleans())
    unions = st.lists(children, min_size=1, max_size=3).map(lambda xs: {"anyOf": xs})
    return st.one_of(objects, arrays, unions)


SCHEMAS = st.recursive(leaf(), extend, max_leaves=12)


@settings(max_examples=150, deadline=None)
@given(schema=SCHEMAS, seed=st.integers(0, 2**32))
def test_structured_replies_validate_against_the_schema(schema: dict[str, Any], seed: int) -> None:
    request = ModelRequest(
        messages=[Message.user("give me data")], response_schema=schema, params=GenerationParams(seed=seed)
    )
    reply = MockModel().reply(request)
    jsonschema.validate(json.loads(reply.text), schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


@settings(max_examples=60, deadline=None)
@given(schema=SCHEMAS.filter(lambda s: s.get("type") == "object"))
def test_tool_arguments_validate_against_parameters(schema: dict[str, Any]) -> None:
    tool = ToolSpec(name="lookup", parameters=schema)
    reply = MockModel().reply(ModelRequest(messages=[Message.user("find it")], tools=[tool]))
    [call] = reply.message.tool_calls or []
    assert call.name == "lookup" and reply.finish_reason == "tool_calls"
    jsonschema.validate(call.parsed_arguments(), schema)


def test_refs_and_defs_are_followed() -> None:
    schema = {
        "type": "object",
        "properties": {
            "customer": {"$ref": "#/$defs/Customer"},
            "items": {"type": "array", "items": {"$ref": "#/$defs/Item"}, "minItems": 2},
        },
        "required": ["customer", "items"],
        "$defs": {
            "Customer": {
                "type": "object",
                "properties": {"email": {"type": "string", "format": "email"}},
                "required": ["email"],
            },
            "Item": {"allOf": [{"type": "object", "properties": {"sku": {"type": "string"}}, "required": ["sku"]}]},
        },
    }
    value = valid_instance(schema, random.Random(3))
    jsonschema.validate(value, schema)
    assert len(value["items"]) >= 2 and "@" in value["customer"]["email"]


def test_regex_subset() -> None:
    rng = random.Random(0)
    for pattern in [r"^[A-Z]{2}-\d{3,5}(x|yz)?\w+$", r"[^a-c]{3}", r"ab?c*"]:
        text = regex_instance(pattern, rng)
        assert text is not None and re.search(pattern, text)
    assert regex_instance(r"(?=a)b", rng) is None  # lookarounds are not modelled


async def test_replies_are_deterministic_and_seeded() -> None:
    schema = {
        "type": "object",
        "properties": {"n": {"type": "integer", "minimum": 0, "maximum": 10**9}},
        "required": ["n"],
    }
    base = ModelRequest(messages=[Message.user("x")], response_schema=schema)
    first = (await MockModel().generate(base)).text
    assert (await MockModel().generate(base)).text == first
    reseeded = base.model_copy(update={"params": GenerationParams(seed=42)})
    assert (await MockModel().generate(reseeded)).text != first


async def test_conversation_shape_call_then_answer() -> None:
    tool = ToolSpec(
        name="get_order",
        parameters={"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]},
    )
    model = MockModel()
    opening = [Message.system("You help customers."), Message.user("Where is my order?")]
    first = await model.generate(ModelRequest(messages=opening, tools=[tool]))
    [call] = first.message.tool_calls or []
    after = [*opening, first.message, Message.tool(call.id, '{"status": "shipped"}')]
    second = await model.generate(ModelRequest(messages=after, tools=[tool]))
    assert second.message.tool_calls is None and "shipped" in second.text
    none = await model.generate(ModelRequest(messages=opening, tools=[tool], tool_choice="none"))
    assert none.message.tool_calls is None and "Where is my order?" in none.text
    forced = await model.generate(ModelRequest(messages=after, tools=[tool], tool_choice="get_order"))
    assert forced.message.tool_calls and forced.message.tool_calls[0].name == "get_order"
    assert first.usage.input_tokens > 0 and first.usage.output_tokens > 0 and first.usage.requests == 1


@given(text=st.text(max_size=40), label=st.text(min_size=1, max_size=10))
@settings(max_examples=50, deadline=None)
def test_usage_estimate_is_a_quarter_of_the_canonical_request(text: str, label: str) -> None:
    request = ModelRequest(messages=[Message.system("be brief"), Message.user(text)])
    reply = MockModel(label).reply(request)
    assert reply.usage.input_tokens == max(1, len(request.canonical_text()) // 4)
    assert reply.message.content == MockModel(label).reply(request).message.content


def test_local_refs_are_inlined_for_validation_with_the_same_verdicts() -> None:
    import jsonschema

    from envsim.models.schema_instance import inline_local_refs

    schema = {
        "type": "object",
        "properties": {
            "turns": {"type": "array", "items": {"$ref": "#/$defs/Turn"}, "minItems": 1},
            "lead": {"$ref": "#/$defs/Turn", "description": "siblings still apply"},
        },
        "required": ["turns"],
        "$defs": {
            "Turn": {"type": "object", "properties": {"n": {"type": "integer", "minimum": 1}}, "required": ["n"]}
        },
    }
    inlined = inline_local_refs(schema)
    assert inlined is not None and "$ref" not in json.dumps({k: v for k, v in inlined.items() if k != "$defs"})
    cases = [
        {"turns": [{"n": 1}]},
        {"turns": [{"n": 0}]},
        {"turns": []},
        {"turns": [{}]},
        {"turns": [{"n": 2}], "lead": {}},
    ]
    for case in cases:
        assert jsonschema.Draft202012Validator(inlined).is_valid(case) == jsonschema.Draft202012Validator(
            schema
        ).is_valid(case), case
    recursive = {"$defs": {"Node": {"type": "object", "properties": {"kids": {"items": {"$ref": "#/$defs/Node"}}}}}}
    assert inline_local_refs({**recursive, "$ref": "#/$defs/Node"}) is None
    assert inline_local_refs({"properties": {"self": {"$ref": "#"}}}) is None
    assert inline_local_refs({"properties": {"x": {"$ref": "#/$defs/Missing"}}}) is None

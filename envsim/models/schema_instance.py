"""Deterministic example instances of a JSON Schema, for the mock model and the fake server.

`schema_instance(schema, rng)` covers what model-facing schemas use: objects (required properties always,
optional ones sometimes), strings (enum/const, min/maxLength, simple regex `pattern`, common `format`s),
integers and numbers (minimum/maximum, exclusive bounds, multipleOf), arrays (items, prefixItems,
min/maxItems, uniqueItems), booleans, null, anyOf/oneOf/allOf, `$ref` into `$defs`/`definitions`.
Callers that need a guarantee validate the result (`valid_instance` does, retrying other choices).
"""

from __future__ import annotations

import copy
import functools
import json
import math
import random
import re
import re._parser as sre_parse  # the stdlib regex parser: turns a pattern into a tree we can walk
import string
import uuid
from typing import Any

import jsonschema

from envsim.canonical import canonical_json

_WORDS = ["alpha", "blue", "order", "ticket", "river", "delta", "account", "green", "sample", "note", "item", "quick"]
_MAX_DEPTH = 6
_MAX_REPEAT = 4  # cap for open-ended regex quantifiers (+, *, {n,})


def schema_instance(schema: Any, rng: random.Random, *, root: Any = None, name: str = "", depth: int = 0) -> Any:
    """One instance of `schema` (best effort; see `valid_instance` for a validated one)."""
    root = schema if root is None else root
    if schema is True or schema is None or schema == {}:
        return _word(rng)
    if schema is False or not isinstance(schema, dict):
        return None
    if "$ref" in schema:
        return schema_instance(_resolve(root, schema["$ref"]), rng, root=root, name=name, depth=depth + 1)
    if "const" in schema:
        return schema["const"]
    if "default" in schema and depth > 0:
        # A documented default is the most plausible value (and e.g. keeps a mock's JSON Patch empty).
        return copy.deepcopy(schema["default"])
    if schema.get("enum"):
        return rng.choice(schema["enum"])
    for key in ("anyOf", "oneOf"):
        if schema.get(key):
            branch = rng.choice(schema[key])
            rest = {k: v for k, v in schema.items() if k != key}
            return schema_instance(_merge(rest, branch), rng, root=root, name=name, depth=depth + 1)
    if schema.get("allOf"):
        merged = {k: v for k, v in schema.items() if k != "allOf"}
        for part in schema["allOf"]:
            merged = _merge(merged, _resolve(root, part["$ref"]) if "$ref" in part else part)
        return schema_instance(merged, rng, root=root, name=name, depth=depth + 1)
    kind = _type_of(schema, rng)
    if kind == "object":
        return _object(schema, rng, root, depth)
    if kind == "array":
        return _array(schema, rng, root, name, depth)
    if kind == "integer":
        return _integer(schema, rng)
    if kind == "number":
        return _number(schema, rng)
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "null":
        return None
    return _string(schema, rng, name)


def valid_instance(schema: dict[str, Any], rng: random.Random, attempts: int = 20) -> Any:
    """An instance that validates against `schema`; tries other random choices when one fails.
    Returns the last attempt if none validates (an unsatisfiable or exotic schema)."""
    validator = _validator(canonical_json(schema))
    value = None
    for _ in range(attempts):
        value = schema_instance(schema, rng)
        if validator.is_valid(value):
            return value
    return value


@functools.lru_cache(maxsize=256)
def _validator(schema_json: str) -> Any:
    """A validator per distinct schema: building one costs more than generating the instance, and a
    model (the mock, the fake server) sees the same few tool schemas on every request."""
    schema = json.loads(schema_json)
    validator_cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    # Local `$ref`s inlined: jsonschema resolves a reference on every visit, which cost two thirds of
    # a structured mock reply (a plan's turn list refers to its item definition once per item).
    inlined = inline_local_refs(schema)
    return validator_cls(schema if inlined is None else inlined, format_checker=validator_cls.FORMAT_CHECKER)


def inline_local_refs(schema: Any) -> Any | None:
    """`schema` with each `{"$ref": "#/..."}` replaced by what it points to (siblings of `$ref` kept), or
    None when that cannot be done faithfully: a recursive or non-local reference, or a `$ref` that
    resolves to nothing."""

    def walk(node: Any, stack: tuple[str, ...]) -> Any:
        if isinstance(node, list):
            return [walk(item, stack) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str):
            if not ref.startswith("#") or ref in ("#", "#/") or ref in stack:
                raise _NotInlinable
            target = _resolve(schema, ref)
            if not isinstance(target, dict | bool) or target == {}:  # {}: what `_resolve` gives for a miss
                raise _NotInlinable
            resolved = walk(target, (*stack, ref))
            siblings = {k: walk(v, stack) for k, v in node.items() if k != "$ref"}
            if not siblings:
                return resolved
            return {"allOf": [resolved, siblings]}
        return {k: v if k in _NOT_SCHEMAS else walk(v, stack) for k, v in node.items()}

    try:
        return walk(schema, ())
    except _NotInlinable:
        return None


# Keywords whose values are data (or definitions only reached through `$ref`), not schemas to walk.
_NOT_SCHEMAS = frozenset({"const", "enum", "default", "examples", "$defs", "definitions"})


class _NotInlinable(Exception):
    pass


# --------------------------------------------------------------------------- types


def _type_of(schema: dict[str, Any], rng: random.Random) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        non_null = [k for k in kind if k != "null"]
        return rng.choice(non_null) if non_null else "null"
    if isinstance(kind, str):
        return kind
    if "properties" in schema or "required" in schema or "additionalProperties" in schema:
        return "object"
    if "items" in schema or "prefixItems" in schema:
        return "array"
    if "minimum" in schema or "maximum" in schema or "multipleOf" in schema:
        return "number"
    return "string"


def _object(schema: dict[str, Any], rng: random.Random, root: Any, depth: int) -> dict[str, Any]:
    props: dict[str, Any] = schema.get("properties", {}) or {}
    required = [p for p in schema.get("required", []) if isinstance(p, str)]
    chosen = list(dict.fromkeys(required + [p for p in props if p in required]))
    optional = [p for p in props if p not in chosen]
    min_props = int(schema.get("minProperties", 0))
    if depth < _MAX_DEPTH:
        for p in optional:
            if rng.random() < 0.5 or len(chosen) < min_props:
                chosen.append(p)
    result: dict[str, Any] = {}
    for p in chosen:
        result[p] = schema_instance(props.get(p, {}), rng, root=root, name=p, depth=depth + 1)
    extra = schema.get("additionalProperties")
    while len(result) < min_props and extra is not False:
        result[f"{_word(rng)}_{len(result)}"] = schema_instance(
            extra if isinstance(extra, dict) else {}, rng, root=root, depth=depth + 1
        )
    return result


def _array(schema: dict[str, Any], rng: random.Random, root: Any, name: str, depth: int) -> list[Any]:
    lo = int(schema.get("minItems", 0))
    hi = int(schema.get("maxItems", max(lo, 2) + 1))
    prefix = schema.get("prefixItems") or []
    if depth >= _MAX_DEPTH:
        hi = lo
    count = rng.randint(max(lo, min(1, hi)), max(hi, lo)) if hi >= lo else lo
    count = max(count, min(len(prefix), hi))
    items = schema.get("items", {})
    if items is False:
        count = min(count, len(prefix))
    out: list[Any] = []
    tries = 0
    while len(out) < count and tries < count * 10:
        tries += 1
        idx = len(out)
        item_schema = prefix[idx] if idx < len(prefix) else items
        value = schema_instance(item_schema, rng, root=root, name=name, depth=depth + 1)
        if schema.get("uniqueItems") and value in out:
            continue
        out.append(value)
    return out


def _integer(schema: dict[str, Any], rng: random.Random) -> int:
    lo, hi = _bounds(schema, integer=True)
    step = schema.get("multipleOf")
    if isinstance(step, int) and step > 0:
        first = math.ceil(lo / step)
        last = math.floor(hi / step)
        return step * rng.randint(first, max(first, last))
    return rng.randint(int(lo), int(max(lo, hi)))


def _number(schema: dict[str, Any], rng: random.Random) -> float | int:
    lo, hi = _bounds(schema, integer=False)
    step = schema.get("multipleOf")
    if isinstance(step, (int, float)) and step > 0:
        first = math.ceil(lo / step)
        last = math.floor(hi / step)
        return round(step * rng.randint(first, max(first, last)), 10)
    value = round(rng.uniform(lo, hi), 2)
    return min(max(value, lo), hi)


def _bounds(schema: dict[str, Any], *, integer: bool) -> tuple[float, float]:
    eps = 1 if integer else 0.01
    lo = schema.get("minimum")
    hi = schema.get("maximum")
    ex_lo = schema.get("exclusiveMinimum")
    ex_hi = schema.get("exclusiveMaximum")
    if isinstance(ex_lo, (int, float)) and not isinstance(ex_lo, bool):
        lo = ex_lo + eps if lo is None else max(lo, ex_lo + eps)
    if isinstance(ex_hi, (int, float)) and not isinstance(ex_hi, bool):
        hi = ex_hi - eps if hi is None else min(hi, ex_hi - eps)
    if lo is None and hi is None:
        lo, hi = 0, 100
    elif lo is None:
        lo = hi - 100
    elif hi is None:
        hi = lo + 100
    if integer:
        lo, hi = math.ceil(lo), math.floor(hi)
    return lo, hi


# --------------------------------------------------------------------------- strings

_FORMATS = {
    "date": lambda r: f"2024-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}",
    "date-time": lambda r: f"2024-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}T{r.randint(0, 23):02d}:00:00Z",
    "time": lambda r: f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:00Z",
    "email": lambda r: f"{_word(r)}.{_word(r)}@example.com",
    "uri": lambda r: f"https://example.com/{_word(r)}",
    "url": lambda r: f"https://example.com/{_word(r)}",
    "uuid": lambda r: str(uuid.UUID(int=r.getrandbits(128), version=4)),
    "ipv4": lambda r: f"10.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}",
    "hostname": lambda r: f"{_word(r)}.example.com",
}


def _string(schema: dict[str, Any], rng: random.Random, name: str) -> str:
    lo = int(schema.get("minLength", 0))
    hi = int(schema.get("maxLength", max(lo, 40)))
    fmt = schema.get("format")
    if isinstance(schema.get("pattern"), str):
        text = regex_instance(schema["pattern"], rng)
        if text is not None and lo <= len(text) <= hi:
            return text
    if fmt in _FORMATS:
        return _FORMATS[fmt](rng)
    lowered = name.lower()
    if "email" in lowered:
        text = _FORMATS["email"](rng)
    elif lowered.endswith("date"):
        text = _FORMATS["date"](rng)
    elif lowered == "id" or lowered.endswith("_id"):
        text = f"{lowered.removesuffix('_id') or 'id'}_{rng.randint(100, 999)}"
    else:
        text = " ".join(_word(rng) for _ in range(rng.randint(1, 3)))
    while len(text) < lo:
        text += " " + _word(rng)
    return text[:hi] if len(text) > hi else text


def regex_instance(pattern: str, rng: random.Random) -> str | None:
    """A string matching `pattern`, for the regex subset schemas use; None for constructs we do not model
    (lookarounds, backreferences)."""
    try:
        return _emit(sre_parse.parse(pattern), rng)
    except (re.error, ValueError, TypeError, OverflowError):
        return None


def _emit(items: Any, rng: random.Random) -> str:
    out: list[str] = []
    for op, arg in items:
        name = str(op)
        if name == "LITERAL":
            out.append(chr(arg))
        elif name == "NOT_LITERAL":
            out.append("x" if arg != ord("x") else "y")
        elif name == "ANY":
            out.append(rng.choice(string.ascii_letters))
        elif name == "IN":
            out.append(_emit_class(arg, rng))
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            lo, hi, sub = arg
            hi = min(hi, lo + _MAX_REPEAT)
            out.extend(_emit(sub, rng) for _ in range(rng.randint(lo, hi)))
        elif name == "SUBPATTERN":
            out.append(_emit(arg[-1], rng))
        elif name == "BRANCH":
            out.append(_emit(rng.choice(arg[1]), rng))
        elif name == "AT":
            continue
        elif name == "CATEGORY":
            out.append(_emit_class([(op, arg)], rng))
        else:
            raise ValueError(f"unsupported regex construct {name}")
    return "".join(out)


_CATEGORIES = {
    "CATEGORY_DIGIT": string.digits,
    "CATEGORY_WORD": string.ascii_letters + string.digits + "_",
    "CATEGORY_SPACE": " ",
    "CATEGORY_NOT_DIGIT": string.ascii_letters,
    "CATEGORY_NOT_WORD": "-.",
    "CATEGORY_NOT_SPACE": string.ascii_letters,
}


def _emit_class(members: Any, rng: random.Random) -> str:
    pool: list[str] = []
    negate = False
    for op, arg in members:
        name = str(op)
        if name == "NEGATE":
            negate = True
        elif name == "LITERAL":
            pool.append(chr(arg))
        elif name == "RANGE":
            pool.extend(chr(c) for c in range(arg[0], min(arg[1], arg[0] + 200) + 1))
        elif name == "CATEGORY":
            pool.extend(_CATEGORIES.get(str(arg), ""))
        else:
            raise ValueError(f"unsupported class member {name}")
    if negate:
        banned = set(pool)
        pool = [c for c in string.ascii_letters + string.digits if c not in banned]
    if not pool:
        raise ValueError("empty character class")
    return rng.choice(pool)


# --------------------------------------------------------------------------- helpers


def _word(rng: random.Random) -> str:
    return rng.choice(_WORDS)


def _resolve(root: Any, ref: str) -> Any:
    if not ref.startswith("#"):
        return {}
    node = root
    for part in ref.lstrip("#").strip("/").split("/"):
        if not part:
            continue
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or part not in node:
            return {}
        node = node[part]
    return node


def _merge(base: dict[str, Any], extra: Any) -> dict[str, Any]:
    if not isinstance(extra, dict):
        return base
    merged = {**base}
    for key, value in extra.items():
        if key == "properties":
            merged["properties"] = {**base.get("properties", {}), **value}
        elif key == "required":
            merged["required"] = list(dict.fromkeys([*base.get("required", []), *value]))
        else:
            merged[key] = value
    return merged

"""A fast "valid" verdict for JSON Schema (jsonschema-rs), with jsonschema kept as the authority.

jsonschema (pure Python) spends about 100 µs on a four-field tool call and about 2 s on tau2's 1.3 MB
retail state; jsonschema-rs (Rust) decides the same in about 1 µs and 12 ms. It is used one way only:
when it says *valid*, the value is valid and nothing else runs; anything else (invalid, or a value or
schema it cannot take) goes to jsonschema, which gives the verdict and the messages. So the two could
only disagree where jsonschema-rs accepts what jsonschema rejects, and where that is known to happen
jsonschema decides:

- `pattern` (ECMA 262 regexes against Python's `re`: `\\D` and `\\s` match more in ECMA) and
  `multipleOf` (jsonschema divides floats: 0.07 is no multiple of 0.01; jsonschema-rs is exact) are
  handed back to jsonschema's own keyword code from inside jsonschema-rs (custom keywords), so they
  are jsonschema's verdicts wherever they appear;
- a schema with `patternProperties` (its regexes also decide which keys `additionalProperties`
  sees), a `$schema` other than Draft 2020-12 (envsim's default dialect) anywhere, `$dynamicRef` /
  `$recursiveRef`, or a `$ref` that is not local is left to jsonschema entirely
  (`FastSchema.reason` says why);

and values must be JSON documents (parsed JSON, or `to_plain` output): jsonschema-rs takes a Python tuple
for an array, jsonschema does not. A property test checks that the combined verdict and messages equal
jsonschema's for random schemas and documents (tests/environments/test_fast_schema.py). Without the
jsonschema_rs package installed everything simply goes to jsonschema.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import jsonschema

from envsim.canonical import canonical_json

try:
    import jsonschema_rs
except ImportError:  # pragma: no cover - an optional accelerator: jsonschema alone gives the same verdicts
    jsonschema_rs = None

# Keywords that leave a schema to jsonschema alone (see the module docstring).
UNSAFE_KEYWORDS = ("patternProperties", "$dynamicRef", "$recursiveRef", "$recursiveAnchor")
_DIALECTS_2020 = ("https://json-schema.org/draft/2020-12/schema", "https://json-schema.org/draft/2020-12/schema#")
# Keywords whose value maps names to sub-schemas (the names are not keywords), and those holding data.
_SCHEMA_MAPS = ("properties", "$defs", "definitions", "dependentSchemas")
_DATA = ("enum", "const", "default", "examples", "required", "dependentRequired", "$comment", "description", "title")


class _JsonschemaKeyword:
    """A keyword jsonschema-rs evaluates by calling jsonschema's own code for it (Draft 2020-12)."""

    name = ""

    def __init__(self, parent_schema: Any, value: Any, schema_path: Any) -> None:
        self._validator = jsonschema.Draft202012Validator({self.name: value})

    def validate(self, instance: Any) -> None:
        if not self._validator.is_valid(instance):
            raise ValueError(f"{self.name} fails")


class _Pattern(_JsonschemaKeyword):
    name = "pattern"


class _MultipleOf(_JsonschemaKeyword):
    name = "multipleOf"


_KEYWORDS = {"pattern": _Pattern, "multipleOf": _MultipleOf}


class FastSchema:
    """Fast verdicts for one root schema and every sub-schema in it (looked up by identity)."""

    def __init__(self, root: Any) -> None:
        self.root = root  # held, so the ids of its sub-schemas stay unique
        self.reason: str | None = _unsupported(root)
        self._pointers: dict[int, str] = {}
        self._validators: dict[int, Any] = {}
        self._map: Any = None
        if self.reason is None:
            try:
                self._map = jsonschema_rs.validator_map_for(root, offline=True, keywords=_KEYWORDS)
            except Exception as exc:  # any schema it cannot compile is left to jsonschema
                self.reason = f"jsonschema-rs cannot compile the schema ({type(exc).__name__}: {exc})"
        if self._map is not None:
            self._pointers = {id(node): pointer for node, pointer in _schema_nodes(root, "#")}

    def accepts(self, schema: Any, document: Any) -> bool:
        """True when `schema` (the root or one of its sub-schemas, by identity) is known to accept
        `document`; False means "ask jsonschema" (invalid, or not decidable here)."""
        if schema is True or schema is False:
            return schema
        validator = self._validators.get(id(schema))
        if validator is None:
            pointer = self._pointers.get(id(schema))
            if pointer is None:
                return False
            validator = self._validators[id(schema)] = self._map.get(pointer) or False
        if validator is False:
            return False
        try:
            return bool(validator.is_valid(document))
        except (ValueError, TypeError, OverflowError):  # a value it cannot represent (a date, a str subclass)
            return False


def _unsupported(root: Any) -> str | None:
    if jsonschema_rs is None:
        return "the jsonschema_rs package is not installed"
    if isinstance(root, dict):
        dialect = root.get("$schema")
        if dialect is not None and dialect not in _DIALECTS_2020:
            return f"the schema uses dialect {dialect!r}"
    for node, pointer in _every_object(root, "#"):
        for keyword in UNSAFE_KEYWORDS:
            if keyword in node:
                return f"the schema uses {keyword} (at {pointer})"
        if node is not root and "$schema" in node:
            return f"the schema sets $schema below its root (at {pointer})"
        ref = node.get("$ref")
        if ref is not None and not (isinstance(ref, str) and ref.startswith("#")):
            return f"the schema has a non-local $ref {ref!r} (at {pointer})"
    return None


def _every_object(node: Any, pointer: str, names: bool = False) -> Iterator[tuple[dict[str, Any], str]]:
    """Every JSON object anywhere in the schema, data included (a `$ref` may point anywhere), except
    the name-to-schema maps themselves (`properties: {pattern: ...}` names a property, it is no keyword)."""
    if isinstance(node, dict):
        if not names:
            yield node, pointer
        for key, value in node.items():
            yield from _every_object(value, f"{pointer}/{_escape(key)}", not names and key in _SCHEMA_MAPS)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _every_object(value, f"{pointer}/{index}")


def _schema_nodes(node: Any, pointer: str) -> Iterator[tuple[dict[str, Any], str]]:
    """Every object sub-schema in `node` with its JSON pointer (the keys of jsonschema-rs' map)."""
    if not isinstance(node, dict):
        return
    yield node, pointer
    for key, value in node.items():
        if key in _DATA:
            continue
        where = f"{pointer}/{_escape(key)}"
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            for name, sub in value.items():
                yield from _schema_nodes(sub, f"{where}/{_escape(name)}")
        elif isinstance(value, dict):
            yield from _schema_nodes(value, where)
        elif isinstance(value, list):
            for index, sub in enumerate(value):
                yield from _schema_nodes(sub, f"{where}/{index}")


def _escape(token: str) -> str:
    return str(token).replace("~", "~0").replace("/", "~1")


_BY_IDENTITY: dict[int, tuple[Any, FastSchema]] = {}


def accepts(schema: Any, document: Any) -> bool:
    """`FastSchema(schema).accepts(schema, document)`, compiled once per schema: looked up by identity
    (schemas are built once and reused), then by content (compiling costs about 100 µs, as much as
    jsonschema's check of a tool call)."""
    known = _BY_IDENTITY.get(id(schema))
    if known is None or known[0] is not schema:
        if len(_BY_IDENTITY) > 1024:
            _BY_IDENTITY.clear()
        # The entry holds `schema`, so its id is not reused while the entry lives.
        known = _BY_IDENTITY[id(schema)] = (schema, _by_content(canonical_json(schema)))
    compiled = known[1]
    return compiled.accepts(compiled.root, document)


@lru_cache(maxsize=512)
def _by_content(schema_json: str) -> FastSchema:
    return FastSchema(json.loads(schema_json))

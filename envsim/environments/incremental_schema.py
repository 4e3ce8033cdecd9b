"""Incremental JSON Schema validation: after a patch, check only what the patch can have affected.

Full validation is the conjunction of (sub-schema, location) checks. When the old state was valid, only
the checks whose instance changed can fail now:

- every changed subtree is validated in full against the sub-schemas that apply at its location;
- every ancestor of a change is re-checked against the "local" keywords of the sub-schemas that apply
  to it (type, required, min/maxProperties, dependentRequired, min/maxItems, uniqueItems), and an added
  key is checked against propertyNames / additionalProperties: false;
- which sub-schemas apply at a child is decided from the key alone (properties, patternProperties,
  additionalProperties, prefixItems, items, allOf, local `$ref`s), which is what makes this sound.

A sub-schema whose verdict can depend on more than that (anyOf, oneOf, not, if/then/else,
dependentSchemas, enum/const on a container, contains, unevaluated*) is checked in full at the
ancestor where it applies: the cost grows to that subtree only (a payment method, say), never silently
unsound. An array with an insertion or removal is re-validated as a whole. Where even that is not
possible (remote or dynamic refs, `$id`/`$anchor` scopes, `$ref` cycles, another dialect than Draft
2020-12, or a root schema that is itself non-local), the whole state is validated and
`fallback_reason` says why.

Every check of a value is of its JSON form (`to_plain`: what the commit stores, as json.dumps writes
it), answered by jsonschema-rs when it is valid and by jsonschema otherwise (envsim.environments.
fast_schema), so the messages are jsonschema's and a valid change costs microseconds, not milliseconds.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from envsim.canonical import canonical_json
from envsim.environments.fast_schema import FastSchema
from envsim.environments.overlay import to_plain
from envsim.environments.schema import _explain, _resolve_local_ref, _validator, json_errors, pointer

# Keywords whose verdict at a node may depend on more than the node's key set and its children's verdicts.
NON_LOCAL_KEYWORDS = (
    "anyOf",
    "oneOf",
    "not",
    "if",
    "then",
    "else",
    "dependentSchemas",
    "dependencies",
    "unevaluatedProperties",
    "unevaluatedItems",
    "enum",
    "const",
    "contains",
    "minContains",
    "maxContains",
    "additionalItems",
    "$dynamicRef",
    "$recursiveRef",
)
# Keywords of a container that only look at its key set / length (plus uniqueItems: its elements).
LOCAL_KEYWORDS = (
    "type",
    "required",
    "minProperties",
    "maxProperties",
    "dependentRequired",
    "minItems",
    "maxItems",
    "uniqueItems",
)
_DIALECT_2020 = ("https://json-schema.org/draft/2020-12/schema", "https://json-schema.org/draft/2020-12/schema#")

Change = tuple[str, list[str]]  # (op, reference tokens) of an add/remove/replace operation


@dataclass
class _Trie:
    children: dict[str, _Trie] = field(default_factory=dict)
    whole: bool = False  # this value was set: validate it in full
    structural: bool = False  # an add/remove happened at this key (matters when the parent is an array)

    def mark(self, op: str, tokens: list[str]) -> None:
        node = self
        for token in tokens:
            if node.whole:
                return
            node = node.children.setdefault(token, _Trie())
        if node.whole:
            return
        if op in ("add", "replace"):
            node.whole = True
            node.children.clear()
        if op in ("add", "remove"):
            node.structural = True


def _is_non_local(schema: dict[str, Any]) -> str | None:
    for keyword in NON_LOCAL_KEYWORDS:
        if keyword in schema:
            return keyword
    items = schema.get("items")
    if isinstance(items, list):
        return "items (array form)"
    return None


class IncrementalValidator:
    """`errors(new_state, changes)` == `schema_errors(schema, new_state)` in verdict, given a valid old state."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self.schema = schema
        self.key = canonical_json(schema)
        self._full = _validator(canonical_json(schema))
        self._fast = FastSchema(schema)  # this validator is itself cached per schema
        self._evolved: dict[int, Any] = {}
        self._expanded: dict[int, list[Any]] = {}
        self.fallback_reason: str | None = self._find_fallback_reason()

    # ------------------------------------------------------------------ public

    def full_errors(self, state: Any) -> list[str]:
        return json_errors(self.schema, state)

    def errors(self, state: Any, changes: Iterable[Change]) -> list[str]:
        if self.fallback_reason is not None:
            return self.full_errors(state)
        trie = _Trie()
        for op, tokens in changes:
            trie.mark(op, tokens)
        if trie.whole:
            return self.full_errors(state)
        problems: list[tuple[list[str], str]] = []
        self._walk(state, [], self._expand(self.schema), trie, problems)
        problems.sort(key=lambda item: item[0])
        return list(dict.fromkeys(line for _, line in problems))

    # ------------------------------------------------------------------ the walk

    def _walk(self, node: Any, path: list[str], schemas: list[Any], trie: _Trie, problems: list[Any]) -> None:
        if trie.whole or (isinstance(node, list) and any(c.structural for c in trie.children.values())):
            for schema in schemas:
                self._check_full(node, path, schema, problems)
            return
        local_schemas = []
        for schema in schemas:
            if not isinstance(schema, dict) or _is_non_local(schema):
                self._check_full(node, path, schema, problems)
                continue
            local_schemas.append(schema)
            self._check_local(schema, node, path, problems)
        for token, child_trie in trie.children.items():
            if isinstance(node, dict):
                if token not in node:
                    continue  # removed: only the parent's local keywords were affected
                child_schemas = [
                    s for schema in local_schemas for s in self._object_child(schema, token, path, problems)
                ]
                child = node[token]
            elif isinstance(node, list):
                if not token.isdigit() or int(token) >= len(node):
                    continue
                child_schemas = [s for schema in local_schemas for s in _array_child(schema, int(token))]
                child = node[int(token)]
            else:
                continue
            expanded = [s for schema in child_schemas for s in self._expand(schema)]
            if expanded:
                self._walk(child, [*path, token], expanded, child_trie, problems)

    def _object_child(self, schema: dict[str, Any], key: str, path: list[str], problems: list[Any]) -> list[Any]:
        names = schema.get("propertyNames")
        if names is not None:
            self._collect(self._evolve(names).iter_errors(key), path, problems)
        found: list[Any] = []
        properties = schema.get("properties")
        if isinstance(properties, dict) and key in properties:
            found.append(properties[key])
        patterns = schema.get("patternProperties")
        if isinstance(patterns, dict):
            found += [sub for pattern, sub in patterns.items() if _pattern(pattern).search(key)]
        if not found and "additionalProperties" in schema:
            extra = schema["additionalProperties"]
            if extra is False:
                problems.append(
                    (path, f"at {pointer(path)}: Additional properties are not allowed ({key!r} was unexpected)")
                )
            else:
                found.append(extra)
        return found

    def _check_full(self, node: Any, path: list[str], schema: Any, problems: list[Any]) -> None:
        document = _json_form(node)
        if document is _NOT_JSON:
            document = node  # jsonschema says what is wrong with it
        elif self._fast.accepts(schema, document):
            return
        self._collect(self._evolve(schema).iter_errors(document), path, problems)

    def _collect(self, errors: Iterable[Any], path: list[str], problems: list[Any]) -> None:
        for error in errors:
            for relative, message in _explain(error):
                where = [*path, *map(str, relative)]
                problems.append((where, f"at {pointer(where)}: {message}"))

    # ------------------------------------------------------------------ schema helpers (memoized)

    def _evolve(self, schema: Any) -> Any:
        known = self._evolved.get(id(schema))
        if known is None:
            known = self._evolved[id(schema)] = (schema, self._full.evolve(schema=schema))
        return known[1]  # the entry holds `schema`, so its id stays unique

    def _check_local(self, schema: dict[str, Any], node: Any, path: list[str], problems: list[Any]) -> None:
        """The local keywords at an ancestor of a change. Its type is unchanged (a change of type would
        have replaced it), and so is an array's length (an insertion or removal re-validates the array
        whole), so what is left is the key set of objects and the elements of unique arrays."""
        where = pointer(path)
        if isinstance(node, dict):
            for name in schema.get("required", ()) or ():
                if name not in node:
                    problems.append((path, f"at {where}: {name!r} is a required property"))
            for name, needed in (schema.get("dependentRequired") or {}).items():
                if name in node:
                    problems += [
                        (path, f"at {where}: {other!r} is a dependency of {name!r}")
                        for other in needed
                        if other not in node
                    ]
            low, high = schema.get("minProperties"), schema.get("maxProperties")
            if low is not None and len(node) < low:
                problems.append(
                    (path, f"at {where}: the object has {len(node)} properties, fewer than the minimum {low}")
                )
            if high is not None and len(node) > high:
                problems.append(
                    (path, f"at {where}: the object has {len(node)} properties, more than the maximum {high}")
                )
        elif isinstance(node, list) and schema.get("uniqueItems") is True:
            self._check_full(node, path, {"uniqueItems": True}, problems)

    def _expand(self, schema: Any) -> list[Any]:
        """`schema` plus what it brings in by `$ref` and `allOf` (a non-local schema stays whole)."""
        known = self._expanded.get(id(schema))
        if known is not None:
            return known
        result: list[Any] = [schema]
        if isinstance(schema, dict) and not _is_non_local(schema):
            ref = schema.get("$ref")
            if isinstance(ref, str):
                result += self._expand(self._target(ref))
            for sub in schema.get("allOf", []) or []:
                result += self._expand(sub)
        self._expanded[id(schema)] = result
        return result

    def _target(self, ref: str) -> Any:
        if ref == "#":
            return self.schema
        target = _resolve_pointer(self.schema, ref)
        if target is None:
            raise ValueError(f"unresolvable $ref {ref!r}")  # excluded by _find_fallback_reason
        return target

    # ------------------------------------------------------------------ when not to be incremental

    def _find_fallback_reason(self) -> str | None:
        schema = self.schema
        if not isinstance(schema, dict):
            return None
        dialect = schema.get("$schema")
        if dialect is not None and dialect not in _DIALECT_2020:
            return f"the state schema uses dialect {dialect!r}; incremental checks support Draft 2020-12 only"
        refs: dict[int, set[int]] = {}
        for node, owner in _schema_nodes(schema):
            for keyword in ("$dynamicRef", "$recursiveRef", "$dynamicAnchor", "$recursiveAnchor"):
                if keyword in node:
                    return f"the state schema uses {keyword}"
            if node is not schema and ("$id" in node or "$anchor" in node):
                return "the state schema sets $id/$anchor below its root"
            ref = node.get("$ref")
            if isinstance(ref, str):
                if not ref.startswith("#"):
                    return f"the state schema has a non-local $ref {ref!r}"
                target = schema if ref == "#" else _resolve_pointer(schema, ref)
                if target is None:
                    return f"the state schema has an unresolvable $ref {ref!r}"
                refs.setdefault(id(owner), set()).add(id(target))
        if _has_ref_cycle(schema, refs):
            return "the state schema has a $ref cycle (a recursive schema)"
        for sub in self._expand(schema):
            if isinstance(sub, dict):
                keyword = _is_non_local(sub)
                if keyword is not None:
                    return f"the root of the state schema uses {keyword}"
        return None


_NOT_JSON = object()


def _json_form(value: Any) -> Any:
    """`value` as plain JSON (a copy when it is a container), or _NOT_JSON when it is not JSON."""
    try:
        return to_plain(value)
    except (TypeError, ValueError, RecursionError):
        return _NOT_JSON


def _array_child(schema: dict[str, Any], index: int) -> list[Any]:
    prefix = schema.get("prefixItems")
    if isinstance(prefix, list) and index < len(prefix):
        return [prefix[index]]
    if "items" in schema:
        return [schema["items"]]
    return []


@lru_cache(maxsize=256)
def _pattern(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _resolve_pointer(schema: dict[str, Any], ref: str) -> Any:
    if ref.startswith("#/"):
        return _resolve_local_ref(schema, ref)
    return None


def _schema_nodes(schema: dict[str, Any]) -> Iterable[tuple[dict[str, Any], dict[str, Any]]]:
    """Every dict inside the schema, with the top-level `$defs` entry (or the root) it belongs to."""
    stack: list[tuple[Any, dict[str, Any]]] = [(schema, schema)]
    while stack:
        node, owner = stack.pop()
        if isinstance(node, dict):
            yield node, owner
            for _key, value in node.items():
                stack.append((value, owner))
        elif isinstance(node, list):
            stack.extend((value, owner) for value in node)


def _has_ref_cycle(schema: dict[str, Any], refs: dict[int, set[int]]) -> bool:
    # Nodes: the root and every schema a $ref targets; an edge when a $ref inside one targets another.
    # Targets are grouped by the nearest enclosing target, so "A's subtree refers to A" is a cycle.
    targets = {t for ts in refs.values() for t in ts}
    edges: dict[int, set[int]] = {}

    def owner_walk(node: Any, owner: int) -> None:
        if isinstance(node, dict):
            if id(node) in targets:
                owner = id(node)
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#"):
                target = schema if ref == "#" else _resolve_pointer(schema, ref)
                if target is not None:
                    edges.setdefault(owner, set()).add(id(target))
            for value in node.values():
                owner_walk(value, owner)
        elif isinstance(node, list):
            for value in node:
                owner_walk(value, owner)

    owner_walk(schema, id(schema))
    state: dict[int, int] = {}  # 1 = on the stack, 2 = done

    def visit(node: int) -> bool:
        state[node] = 1
        for nxt in edges.get(node, ()):
            if state.get(nxt) == 1 or (nxt not in state and visit(nxt)):
                return True
        state[node] = 2
        return False

    return any(node not in state and visit(node) for node in list(edges))


@lru_cache(maxsize=128)
def _incremental_validator(schema_json: str) -> IncrementalValidator:
    return IncrementalValidator(json.loads(schema_json))


_BY_IDENTITY: dict[int, tuple[dict[str, Any], IncrementalValidator]] = {}


def incremental_validator(schema: dict[str, Any]) -> IncrementalValidator:
    """The (cached) validator of a schema: by identity first (no serialization per episode), then by content."""
    known = _BY_IDENTITY.get(id(schema))
    if known is not None and known[0] is schema:
        return known[1]
    validator = _incremental_validator(canonical_json(schema))
    if len(_BY_IDENTITY) > 256:
        _BY_IDENTITY.clear()
    _BY_IDENTITY[id(schema)] = (schema, validator)
    return validator

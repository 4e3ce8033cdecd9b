"""JSON Schema helpers shared by environments and the config loader.

`fill_defaults` applies schema `default`s (JSON Schema itself only annotates them); `schema_errors`
validates with the schema's own dialect (Draft 2020-12 when it names none) and returns readable lines
such as "at /items/0/qty: -1 is less than the minimum of 1". `document_errors` is the same for a JSON
document (parsed JSON, or `to_plain` output), answered by jsonschema-rs when it is valid
(envsim.environments.fast_schema), and `json_errors` for the JSON form of any value: what the checks
of tool arguments and states use.
"""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from typing import Any

import jsonschema
from jsonschema.exceptions import best_match
from jsonschema.validators import validator_for

from envsim.canonical import canonical_json
from envsim.environments import fast_schema
from envsim.environments.overlay import to_plain

_DEFAULT_DIALECT = jsonschema.Draft202012Validator
# Deep recursion guard for pathological self-referencing schemas.
_MAX_DEPTH = 64


def fill_defaults(schema: dict[str, Any], value: Any) -> Any:
    """Return a copy of `value` with every missing object property that has a `default` filled in.

    Walks `properties`, `items`, `prefixItems`, `allOf` and local `$ref`s (`#/$defs/...`), so nested
    objects and objects inside arrays get their defaults too. The input is never mutated.
    """
    return fill_defaults_in_place(schema, copy.deepcopy(value))


def fill_defaults_in_place(schema: dict[str, Any], value: Any) -> Any:
    """`fill_defaults` into `value` itself (for a value nobody else holds, e.g. freshly parsed JSON)."""
    return _fill(schema, value, schema, 0)


def _fill(schema: Any, value: Any, root: dict[str, Any], depth: int) -> Any:
    if not isinstance(schema, dict) or depth > _MAX_DEPTH:
        return value
    ref = schema.get("$ref")
    if isinstance(ref, str):
        target = _resolve_local_ref(root, ref)
        if target is not None:
            value = _fill(target, value, root, depth + 1)
    for sub in schema.get("allOf", []) or []:
        value = _fill(sub, value, root, depth + 1)
    if isinstance(value, dict):
        properties = schema.get("properties")
        if isinstance(properties, dict):
            for name, prop in properties.items():
                if name not in value and isinstance(prop, dict) and "default" in prop:
                    value[name] = copy.deepcopy(prop["default"])
                if name in value:
                    value[name] = _fill(prop, value[name], root, depth + 1)
    elif isinstance(value, list):
        prefix = schema.get("prefixItems")
        items = schema.get("items")
        n_prefix = len(prefix) if isinstance(prefix, list) else 0
        for i, element in enumerate(value):
            if i < n_prefix:
                value[i] = _fill(prefix[i], element, root, depth + 1)  # type: ignore[index]
            elif isinstance(items, dict):
                value[i] = _fill(items, element, root, depth + 1)
            elif isinstance(items, list) and i < len(items):  # draft-07 tuple form
                value[i] = _fill(items[i], element, root, depth + 1)
    return value


def _resolve_local_ref(root: dict[str, Any], ref: str) -> dict[str, Any] | None:
    if not ref.startswith("#"):
        return None  # remote refs are not followed: defaults are a local convenience
    node: Any = root
    for raw in ref[1:].split("/")[1:] if ref != "#" else []:
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node if isinstance(node, dict) else None


def schema_errors(schema: dict[str, Any], value: Any) -> list[str]:
    """Every violation of `schema` by `value`, one readable line each, sorted by location.

    An empty list means the value is valid.
    """
    validator = validator_of(schema)
    lines = []
    for error in validator.iter_errors(value):
        for path, message in _explain(error):
            lines.append((list(map(str, path)), f"at {pointer(path)}: {message}"))
    lines.sort(key=lambda item: item[0])
    return [line for _, line in lines]


def document_errors(schema: dict[str, Any], document: Any) -> list[str]:
    """`schema_errors` of a JSON document: parsed JSON or `to_plain` output (no tuples, sets, dates...).

    A valid document costs a call into jsonschema-rs (about 1 µs for a tool call's arguments); an
    invalid one, or a schema jsonschema-rs is not trusted with, is checked by jsonschema, so the verdict
    and the messages are exactly `schema_errors`'s."""
    if fast_schema.accepts(schema, document):
        return []
    return schema_errors(schema, document)


def json_errors(schema: dict[str, Any], value: Any) -> list[str]:
    """`schema_errors` of the JSON form of `value` (`to_plain`: what json.dumps writes, so a tuple is an
    array), fast when it is valid; a value that has no JSON form is left to jsonschema as it is."""
    try:
        document = to_plain(value)
    except (TypeError, ValueError, RecursionError):
        return schema_errors(schema, value)
    return document_errors(schema, document)


def _explain(error: jsonschema.ValidationError) -> list[tuple[Any, str]]:
    """The errors worth showing for `error`.

    "{} is not valid under any of the given schemas" says nothing; when all but one branch of an
    anyOf/oneOf fail merely on type (e.g. `Optional[Address]` = Address | null), the value was clearly
    meant for that branch, so its own errors are shown instead.
    """
    here = (error.absolute_path, error.message)
    if error.validator not in ("anyOf", "oneOf") or not error.context:
        return [here]
    by_branch: dict[Any, list[jsonschema.ValidationError]] = {}
    for sub in error.context:
        # A `false` branch's error comes without a schema path (jsonschema): a branch of its own.
        branch = sub.relative_schema_path[0] if sub.relative_schema_path else None
        by_branch.setdefault(branch, []).append(sub)
    meant = [errs for errs in by_branch.values() if not _wrong_type_only(errs)]
    if len(meant) == 1:
        return [detail for sub in meant[0] for detail in _explain(sub)]
    closest = best_match(error.context)
    if closest is None:
        return [here]
    hint = f"closest: at {pointer(closest.absolute_path)}: {closest.message}"
    return [(error.absolute_path, f"{error.message} ({hint})")]


def _wrong_type_only(errors: list[jsonschema.ValidationError]) -> bool:
    return all(e.validator in ("type", "const", "enum") and not e.relative_path for e in errors)


def check_schema(schema: Any) -> list[str]:
    """Problems with a schema itself (against its dialect's metaschema); empty when it is usable."""
    if not isinstance(schema, dict):
        return [f"a JSON Schema must be an object, got {type(schema).__name__}"]
    cls = validator_for(schema, default=_DEFAULT_DIALECT)
    meta = cls(cls.META_SCHEMA)
    return [f"at {pointer(e.absolute_path)}: {e.message}" for e in meta.iter_errors(schema)]


def pointer(path: Any) -> str:
    """A JSON Pointer for a jsonschema error path ("/" for the top level)."""
    parts = [str(p).replace("~", "~0").replace("/", "~1") for p in path]
    return "/" + "/".join(parts) if parts else "/"


_BY_IDENTITY: dict[int, tuple[Any, Any]] = {}


def validator_of(schema: dict[str, Any]) -> Any:
    """The jsonschema validator of a schema, by identity first: tool schemas are checked on every call,
    and serializing them to find the cached validator cost more than the check itself."""
    known = _BY_IDENTITY.get(id(schema))
    if known is not None and known[0] is schema:
        return known[1]
    validator = _validator(canonical_json(schema))
    if len(_BY_IDENTITY) > 1024:
        _BY_IDENTITY.clear()
    _BY_IDENTITY[id(schema)] = (schema, validator)  # holding `schema` keeps its id from being reused
    return validator


@lru_cache(maxsize=512)
def _validator(schema_json: str) -> Any:
    # Keyed by canonical JSON: schemas are dicts (unhashable) and reused on every step.
    schema = json.loads(schema_json)
    cls = validator_for(schema, default=_DEFAULT_DIALECT)
    return cls(schema)

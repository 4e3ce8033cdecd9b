"""RFC 6902 JSON Patch applied through the plain dict/list API, so it works on state views in place.

`apply_in_place(view, patch)` is how a proposed patch (a synthetic tool's, an initial-state override)
is tried without touching the committed state: the view records the change, and rolling back is
dropping the view. Errors name the failing operation like `state.apply_patch` does:
"operation 1 (replace /tickets/T-9/status): does not apply to the current state (...)".
"""

from __future__ import annotations

from typing import Any

from envsim.environments.overlay import json_key, to_plain
from envsim.environments.state_tree import list_index, parse_pointer
from envsim.errors import EnvsimError

_OPS = ("add", "remove", "replace", "move", "copy", "test")


class PatchError(EnvsimError):
    """A JSON Patch is malformed or does not apply to the state; the message names the operation."""


def describe(index: int, operation: Any) -> str:
    if isinstance(operation, dict):
        return f"operation {index} ({operation.get('op', '?')} {operation.get('path', '?')})"
    return f"operation {index}"


def apply_in_place(document: dict[str, Any], patch: Any) -> None:
    """Apply `patch` to `document` (a dict or a view of one), operation by operation."""
    if not isinstance(patch, list):
        raise PatchError(f"a JSON Patch must be a list of operations, got {type(patch).__name__}")
    for index, operation in enumerate(patch):
        label = describe(index, operation)
        problem = _shape_problem(operation)
        if problem is not None:
            raise PatchError(f"{label}: invalid operation ({problem})")
        try:
            _apply_one(document, operation)
        except _TestFailed as exc:
            raise PatchError(f"{label}: test failed ({exc})") from exc
        except (KeyError, IndexError, ValueError, TypeError) as exc:
            reason = f"no member {exc}" if isinstance(exc, KeyError) else str(exc)
            raise PatchError(f"{label}: does not apply to the current state ({reason})") from exc


class _TestFailed(Exception):
    pass


def _shape_problem(operation: Any) -> str | None:
    if not isinstance(operation, dict):
        return "each operation must be an object with `op` and `path`"
    op = operation.get("op")
    if op not in _OPS:
        return f"unknown op {op!r}; use one of {', '.join(_OPS)}"
    if not isinstance(operation.get("path"), str):
        return "`path` must be a JSON Pointer string"
    if op in ("add", "replace", "test") and "value" not in operation:
        return f"`{op}` needs a `value`"
    if op in ("move", "copy") and not isinstance(operation.get("from"), str):
        return f"`{op}` needs a `from` JSON Pointer"
    return None


def _apply_one(document: dict[str, Any], operation: dict[str, Any]) -> None:
    op, path = operation["op"], operation["path"]
    if op == "test":
        actual = to_plain(_get(document, parse_pointer(path)))
        if actual != operation["value"]:
            raise _TestFailed(f"{actual!r} is not {operation['value']!r}")
        return
    if op == "copy":
        _add(document, parse_pointer(path), to_plain(_get(document, parse_pointer(operation["from"]))))
        return
    if op == "move":
        source = parse_pointer(operation["from"])
        target = parse_pointer(path)
        if source == target:
            _get(document, source)  # must exist; moving onto itself changes nothing
            return
        if target[: len(source)] == source:
            raise ValueError("a value cannot be moved into one of its own children")
        value = _get(document, source)
        _remove(document, source)
        _add(document, target, value)
        return
    tokens = parse_pointer(path)
    if op == "remove":
        _remove(document, tokens)
    elif op == "add":
        _add(document, tokens, to_plain(operation["value"]))
    else:
        _replace(document, tokens, to_plain(operation["value"]))


def _get(document: Any, tokens: list[str]) -> Any:
    node = document
    for token in tokens:
        node = _child(node, token)
    return node


def _child(node: Any, token: str) -> Any:
    if isinstance(node, dict):
        return node[token]
    if isinstance(node, list):
        return node[list_index(token, len(node), allow_end=False)]
    raise TypeError(f"cannot look up {token!r} in a {type(node).__name__}")


def _add(document: dict[str, Any], tokens: list[str], value: Any) -> None:
    if not tokens:
        _replace_root(document, value)
        return
    parent = _get(document, tokens[:-1])
    key = tokens[-1]
    if isinstance(parent, dict):
        parent[key] = value
    elif isinstance(parent, list):
        parent.insert(list_index(key, len(parent), allow_end=True), value)
    else:
        raise TypeError(f"cannot add {key!r} to a {type(parent).__name__}")


def _remove(document: dict[str, Any], tokens: list[str]) -> None:
    if not tokens:
        raise ValueError("the state itself cannot be removed")
    parent = _get(document, tokens[:-1])
    key = tokens[-1]
    if isinstance(parent, dict):
        del parent[key]
    elif isinstance(parent, list):
        del parent[list_index(key, len(parent), allow_end=False)]
    else:
        raise TypeError(f"cannot remove {key!r} from a {type(parent).__name__}")


def _replace(document: dict[str, Any], tokens: list[str], value: Any) -> None:
    if not tokens:
        _replace_root(document, value)
        return
    parent = _get(document, tokens[:-1])
    key = tokens[-1]
    if isinstance(parent, dict):
        if key not in parent:
            raise KeyError(key)
        parent[key] = value
    elif isinstance(parent, list):
        parent[list_index(key, len(parent), allow_end=False)] = value
    else:
        raise TypeError(f"cannot replace {key!r} in a {type(parent).__name__}")


def _replace_root(document: dict[str, Any], value: Any) -> None:
    if not isinstance(value, dict):
        raise TypeError(f"the state must be a JSON object, got {type(value).__name__}")
    document.clear()
    for key, item in value.items():
        document[json_key(key)] = item

"""Apply a JSON Patch without copying the document: only the containers on the touched paths are copied.

Rebuilding a recorded final state (initial state + the episode's patches) must cost what the patches
touch, not what the state weighs: the result shares every untouched subtree with the input, which is
never modified. Callers must treat both as read-only (copy.deepcopy before changing one).
"""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
import jsonpointer

from envsim.environments.state import PatchError


def apply_patch_shared(document: Any, patch: list[dict[str, Any]]) -> Any:
    """`document` with `patch` applied (RFC 6902), sharing unchanged subtrees; raises PatchError."""
    if not patch:
        return document
    fresh: set[int] = set()  # ids of the containers this call created: safe to change in place
    root = _copied(document, fresh)
    for index, raw in enumerate(patch):
        operation = copy.deepcopy(raw)  # the recorded patch must not end up inside (and change with) the state
        if not isinstance(operation, dict):
            raise PatchError(f"operation {index}: each operation must be an object with `op` and `path`")
        for key in ("path", "from"):
            if isinstance(operation.get(key), str) and operation.get("op") != "test":
                root = _copy_spine(root, operation[key], fresh)
        try:
            root = jsonpatch.JsonPatch([operation]).apply(root, in_place=True)
        except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException, TypeError, KeyError) as exc:
            where = f"operation {index} ({operation.get('op', '?')} {operation.get('path', '?')})"
            raise PatchError(f"{where}: does not apply ({exc})") from exc
        # A move/copy/replace at "" can make a shared subtree the new root: copy it before a later
        # operation changes it in place (never mark a container fresh that this call did not create).
        root = _copied(root, fresh)
    return root


def _copied(value: Any, fresh: set[int]) -> Any:
    if isinstance(value, (dict, list)) and id(value) not in fresh:
        value = value.copy()
        fresh.add(id(value))
    return value


def _copy_spine(root: Any, pointer: str, fresh: set[int]) -> Any:
    """Copy (once) every container from the root down to the parent of `pointer`'s target."""
    try:
        tokens = jsonpointer.JsonPointer(pointer).parts
    except jsonpointer.JsonPointerException:
        return root  # the applier reports the bad pointer
    root = _copied(root, fresh)
    node = root
    for token in tokens[:-1]:
        if isinstance(node, dict) and token in node:
            key: Any = token
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            key = int(token)
        else:
            break
        child = node[key]
        if not isinstance(child, (dict, list)):
            break
        node[key] = child = _copied(child, fresh)
        node = child
    return root

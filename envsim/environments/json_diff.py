"""A deterministic JSON diff: the same two documents always give the same JSON Patch, in any process.

`jsonpatch.make_patch` walks Python sets, so the order of its operations follows string hashing, which
changes between processes (PYTHONHASHSEED) and would break "same config + seed = same bytes out". This
diff only emits `add`, `remove` and `replace`, walks object keys in sorted order, and treats lists simply:
appends and truncations become adds/removes at the end, same-length lists are diffed item by item, and
anything else replaces the list.
"""

from __future__ import annotations

import copy
from typing import Any

Patch = list[dict[str, Any]]


def escape(token: str) -> str:
    """RFC 6901 escaping of one reference token."""
    return token.replace("~", "~0").replace("/", "~1")


def json_diff(before: Any, after: Any, path: str = "") -> Patch:
    """Operations that turn `before` into `after`, in a stable order (empty when equal)."""
    if _same(before, after):
        return []
    if isinstance(before, dict) and isinstance(after, dict):
        ops: Patch = []
        for key in sorted(before.keys() - after.keys()):
            ops.append({"op": "remove", "path": f"{path}/{escape(key)}"})
        for key in sorted(before.keys() & after.keys()):
            ops.extend(json_diff(before[key], after[key], f"{path}/{escape(key)}"))
        for key in sorted(after.keys() - before.keys()):
            ops.append({"op": "add", "path": f"{path}/{escape(key)}", "value": copy.deepcopy(after[key])})
        return ops
    if isinstance(before, list) and isinstance(after, list):
        return _list_diff(before, after, path)
    return [{"op": "replace", "path": path, "value": copy.deepcopy(after)}]


def _list_diff(before: list[Any], after: list[Any], path: str) -> Patch:
    common = min(len(before), len(after))
    if len(before) != len(after) and not _same(before[:common], after[:common]):
        return [{"op": "replace", "path": path, "value": copy.deepcopy(after)}]
    ops: Patch = []
    for index in range(common):
        ops.extend(json_diff(before[index], after[index], f"{path}/{index}"))
    # Removals from the end backwards, so every index is valid when its op is applied.
    for index in range(len(before) - 1, common - 1, -1):
        ops.append({"op": "remove", "path": f"{path}/{index}"})
    for index in range(common, len(after)):
        ops.append({"op": "add", "path": f"{path}/{index}", "value": copy.deepcopy(after[index])})
    return ops


def _same(a: Any, b: Any) -> bool:
    # 1 == 1.0 == True in Python but not in JSON: compare types too.
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)

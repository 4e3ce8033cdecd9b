"""Random mutation programs over dict/list values, run identically on a plain copy and on a state view.

Shared by the property tests of tracked views, the state tree and incremental validation: each step
picks a container (by walking the plain value), then a mutation with its arguments; `run` applies the
same step to any dict/list-like value.
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import strategies as st

from envsim.canonical import canonical_json

KEYS = st.sampled_from(["a", "b", "c", "d", "x~1", "y/z"])
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.floats(-2, 2, allow_nan=False, allow_infinity=False, width=16),
    st.sampled_from(["", "a", "b", "hello"]),
)
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3), max_leaves=12
)
json_objects = st.dictionaries(KEYS, json_values, max_size=4)

Step = tuple[list[Any], str, tuple[Any, ...]]


def containers(value: Any, path: list[Any] | None = None) -> list[list[Any]]:
    """Paths (lists of keys / indices) of every container in `value`, the root first."""
    path = path or []
    found = [path] if isinstance(value, dict | list) else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += containers(item, [*path, key])
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += containers(item, [*path, index])
    return found


def draw_step(data: st.DataObject, plain: dict[str, Any]) -> Step:
    path = data.draw(st.sampled_from(containers(plain)))
    node: Any = plain
    for part in path:
        node = node[part]
    value = data.draw(json_values)
    if isinstance(node, dict):
        keys = list(node)
        choices = ["set", "setdefault", "update", "ior", "pop_missing"]
        if keys:
            choices += ["del", "pop", "popitem", "alias", "clear", "set_existing"]
        op = data.draw(st.sampled_from(choices))
        key = data.draw(st.sampled_from(keys)) if keys and op in ("del", "pop", "alias", "set_existing") else None
        return path, op, (key, data.draw(KEYS), value)
    size = len(node)
    choices = ["append", "insert", "extend", "iadd", "reverse", "sort", "slice"]
    if size:
        choices += ["pop", "del", "setitem", "remove_first", "alias_into"]
    op = data.draw(st.sampled_from(choices))
    index = data.draw(st.integers(0, max(size - 1, 0)))
    return path, op, (index, data.draw(st.integers(0, size)), value)


def run(root: Any, step: Step) -> None:
    path, op, args = step
    node = root
    for part in path:
        node = node[part]
    value = copy.deepcopy(args[2])  # each structure gets its own copy, as two tools would
    if isinstance(node, dict):
        key, new_key, _ = args
        if op in ("set", "set_existing"):
            node[key if op == "set_existing" else new_key] = value
        elif op == "setdefault":
            node.setdefault(new_key, value)
        elif op == "update":
            node.update({new_key: value})
        elif op == "ior":
            node |= {new_key: value}
        elif op == "pop_missing":
            node.pop("no-such-key", None)
        elif op == "del":
            del node[key]
        elif op == "pop":
            node.pop(key)
        elif op == "popitem":
            node.popitem()
        elif op == "alias":
            node[new_key] = node[key]  # the same object under two keys, then maybe mutated through one
        elif op == "clear":
            node.clear()
        return
    index, position, _ = args
    if op == "append":
        node.append(value)
    elif op == "insert":
        node.insert(position, value)
    elif op == "extend":
        node.extend([value, value])
    elif op == "iadd":
        node += [value]
    elif op == "reverse":
        node.reverse()
    elif op == "sort":
        node.sort(key=canonical_json)
    elif op == "slice":
        node[index : index + 1] = [value]
    elif op == "pop":
        node.pop(index)
    elif op == "del":
        del node[index]
    elif op == "setitem":
        node[index] = value
    elif op == "remove_first":
        node.remove(node[0])
    elif op == "alias_into":
        node.append(node[index])

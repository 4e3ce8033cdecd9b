"""The deterministic diff: patches reproduce the target and never depend on hashing order."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import jsonpatch
from hypothesis import given
from hypothesis import strategies as st

from envsim.canonical import canonical_json
from envsim.environments.json_diff import json_diff

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.text("ab/~", max_size=3),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text("abc/~", max_size=3), children, max_size=4)
    ),
    max_leaves=20,
)


@given(json_values, json_values)
def test_patch_turns_before_into_after(before: Any, after: Any) -> None:
    patch = json_diff(before, after)
    assert jsonpatch.apply_patch(before, patch) == after
    if canonical_json(before) == canonical_json(after):  # equal as JSON: Python's == also equates True and 1
        assert patch == []


def test_list_appends_and_truncations_are_minimal() -> None:
    assert json_diff({"a": [1, 2]}, {"a": [1, 2, 3]}) == [{"op": "add", "path": "/a/2", "value": 3}]
    assert json_diff([1, 2, 3], [1]) == [{"op": "remove", "path": "/2"}, {"op": "remove", "path": "/1"}]
    assert json_diff({"a~b/c": 1}, {}) == [{"op": "remove", "path": "/a~0b~1c"}]


def test_json_types_are_respected() -> None:
    assert json_diff({"x": 1}, {"x": 1.0}) == [{"op": "replace", "path": "/x", "value": 1.0}]
    assert json_diff({"x": 1}, {"x": True}) == [{"op": "replace", "path": "/x", "value": True}]


def test_same_patch_in_every_process() -> None:
    """Patch bytes must not depend on PYTHONHASHSEED (jsonpatch.make_patch's do)."""
    code = (
        "import json; from envsim.environments.state import diff_states;"
        "a={f'k{i}': i for i in range(30)}; b={f'n{i}': i for i in range(30)};"
        "print(json.dumps(diff_states(a, b)))"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": str(seed)},
            capture_output=True,
            text=True,
        ).stdout
        for seed in (1, 2, 3)
    }
    assert len(outputs) == 1

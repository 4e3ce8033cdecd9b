"""Environment state helpers: apply / validate / diff / hash, and the one transactional rule.

The rule (DESIGN.md): a state change is a JSON Patch, applied only if it applies cleanly, the result
validates against the state schema, and the tool is not read-only; otherwise nothing changes and the
caller gets the reason. `propose_patch` and `propose_state` implement it without touching the caller's
state, so "rollback" is simply not committing.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any

import jsonpatch
import jsonpointer

from envsim.canonical import stable_hash
from envsim.environments.json_diff import json_diff
from envsim.environments.schema import schema_errors
from envsim.errors import EnvsimError

State = dict[str, Any]
Patch = list[dict[str, Any]]


class PatchError(EnvsimError):
    """A JSON Patch is malformed or does not apply to the state; the message names the operation."""


def apply_patch(state: Any, patch: Any) -> Any:
    """Return a new state with `patch` (RFC 6902) applied; `state` is never mutated.

    Applies operation by operation so the error names the one that failed, e.g.
    "operation 1 (replace /tickets/T-9/status): ...".
    """
    if not isinstance(patch, list):
        raise PatchError(f"a JSON Patch must be a list of operations, got {type(patch).__name__}")
    current = copy.deepcopy(state)
    for index, operation in enumerate(patch):
        label = _describe(index, operation)
        if not isinstance(operation, dict):
            raise PatchError(f"{label}: each operation must be an object with `op` and `path`")
        try:
            current = jsonpatch.JsonPatch([operation]).apply(current, in_place=True)
        except jsonpatch.JsonPatchTestFailed as exc:
            raise PatchError(f"{label}: test failed ({exc})") from exc
        except jsonpatch.InvalidJsonPatch as exc:
            raise PatchError(f"{label}: invalid operation ({exc})") from exc
        except (jsonpatch.JsonPatchConflict, jsonpointer.JsonPointerException) as exc:
            raise PatchError(f"{label}: does not apply to the current state ({exc})") from exc
        except (TypeError, ValueError, KeyError, IndexError) as exc:
            raise PatchError(f"{label}: does not apply to the current state ({type(exc).__name__}: {exc})") from exc
    return current


def _describe(index: int, operation: Any) -> str:
    if isinstance(operation, dict):
        return f"operation {index} ({operation.get('op', '?')} {operation.get('path', '?')})"
    return f"operation {index}"


def validate_state(schema: dict[str, Any] | None, state: Any) -> list[str]:
    """Violations of the state schema (empty when valid). A state is always a JSON object."""
    if not isinstance(state, dict):
        return [f"the state must be a JSON object, got {_json_type(state)}"]
    return schema_errors(schema, state) if schema else []


def diff_states(before: Any, after: Any) -> Patch:
    """A JSON Patch that turns `before` into `after` (empty when they are equal).

    Verified by re-applying it; if the diff algorithm ever produces a patch that does not reproduce
    `after`, a whole-document replace is returned instead so recorded patches always replay.
    """
    patch: Patch = json_diff(before, after)
    try:
        if apply_patch(before, patch) == after:
            return patch
    except PatchError:
        pass
    return [{"op": "replace", "path": "", "value": copy.deepcopy(after)}]


def state_hash(state: Any) -> str:
    """sha256 of the canonical JSON of the state; anyone can recompute it from a recorded state."""
    return stable_hash(state)


def to_json_value(value: Any, what: str) -> Any:
    """`value` as plain JSON (tuples become lists, ...); raises ValueError naming `what` when it is not JSON."""
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} is not JSON-serializable ({exc})") from exc


@dataclass(frozen=True)
class Transition:
    """Outcome of proposing a state change: accepted (new state + patch) or rejected (reason)."""

    state: State
    patch: Patch = field(default_factory=list)
    rejected: str | None = None

    @property
    def ok(self) -> bool:
        return self.rejected is None


def propose_patch(state: State, patch: Any, schema: dict[str, Any] | None, *, read_only: bool) -> Transition:
    """Check a patch against the rule; on rejection `Transition.state` is the untouched `state`."""
    try:
        new_state = apply_patch(state, patch)
    except PatchError as exc:
        return Transition(state=state, rejected=f"the state patch was not applied: {exc.message}")
    return _check(state, new_state, list(patch), schema, read_only=read_only)


def propose_state(state: State, new_state: Any, schema: dict[str, Any] | None, *, read_only: bool) -> Transition:
    """Like `propose_patch` for a tool that produced a whole new state; the patch is the diff."""
    try:
        plain = to_json_value(new_state, "the new state")
    except ValueError as exc:
        return Transition(state=state, rejected=f"the state change was not applied: {exc}")
    if not isinstance(plain, dict):
        return Transition(state=state, rejected=f"the state must be a JSON object, got {_json_type(plain)}")
    return _check(state, plain, diff_states(state, plain), schema, read_only=read_only)


def _check(state: State, new_state: Any, patch: Patch, schema: dict[str, Any] | None, *, read_only: bool) -> Transition:
    if new_state == state:
        return Transition(state=state)  # no change: nothing to record, allowed even for read-only tools
    if read_only:
        return Transition(
            state=state,
            rejected="this tool is read-only and must not change the state; the change was discarded",
        )
    problems = validate_state(schema, new_state)
    if problems:
        return Transition(
            state=state,
            rejected="the new state would not match the state schema: " + "; ".join(problems[:5]),
        )
    return Transition(state=new_state, patch=patch)


def _json_type(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)

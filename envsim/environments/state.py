"""Environment state helpers: apply / validate / diff / hash, and the one transactional rule.

The rule (DESIGN.md): a state change is a JSON Patch, applied only if it applies cleanly, the result
validates against the state schema, and the tool is not read-only; otherwise nothing changes and the
caller gets the reason. `propose_patch` and `propose_state` implement it without touching the caller's
state, so "rollback" is simply not committing.

Given an environment's committed state (`ToolEnvironment._state`), they delegate to its `StateStore`,
which checks the change incrementally (envsim.environments.state_store); given a plain dict they work
on copies as before. `state_hash` is the Merkle hash of envsim.environments.merkle (docs/state.md);
`canonical_sha256` is the sha256 of the canonical JSON, for users who ask for that.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonpatch
import jsonpointer

from envsim.canonical import stable_hash
from envsim.environments.json_diff import json_diff
from envsim.environments.json_patch import PatchError
from envsim.environments.merkle import merkle_hash
from envsim.environments.schema import schema_errors
from envsim.environments.state_store import Transition

State = dict[str, Any]
Patch = list[dict[str, Any]]

__all__ = ["PatchError", "Transition", "apply_patch", "diff_states", "propose_patch", "propose_state", "state_hash"]


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
    """The Merkle state hash (docs/state.md); anyone can recompute it from a recorded state."""
    return merkle_hash(state)


def canonical_sha256(state: Any) -> str:
    """sha256 of the canonical JSON of the state (what `expect.state_hash` and tau2-style hashes use)."""
    return stable_hash(state)


def hash_matches(recorded: str, state: Any) -> bool:
    """Whether a recorded `state_hash` is this state's: the Merkle hash, or the canonical sha256 that
    traces recorded before the Merkle hash (and custom environments) carry."""
    return recorded == merkle_hash(state) or recorded == stable_hash(state)


def to_json_value(value: Any, what: str) -> Any:
    """`value` as plain JSON (tuples become lists, ...); raises ValueError naming `what` when it is not JSON."""
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} is not JSON-serializable ({exc})") from exc


def _store_of(state: Any) -> Any:
    return getattr(state, "_store", None)


def propose_patch(state: State, patch: Any, schema: dict[str, Any] | None, *, read_only: bool) -> Transition:
    """Check a patch against the rule; on rejection `Transition.state` is the untouched `state`."""
    store = _store_of(state)
    if store is not None:
        return store.propose_patch(patch, read_only=read_only, schema=schema)  # type: ignore[no-any-return]
    try:
        new_state = apply_patch(state, patch)
    except PatchError as exc:
        return Transition(state=state, rejected=f"the state patch was not applied: {exc.message}")
    return _check(state, new_state, list(patch), schema, read_only=read_only)


def propose_state(state: State, new_state: Any, schema: dict[str, Any] | None, *, read_only: bool) -> Transition:
    """Like `propose_patch` for a tool that produced a whole new state; the patch is the diff."""
    store = _store_of(state)
    if store is not None:
        return store.propose_state(new_state, read_only=read_only, schema=schema)  # type: ignore[no-any-return]
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

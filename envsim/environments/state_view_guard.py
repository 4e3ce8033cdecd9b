"""A simulated tool may only change what it was shown: the patch check that goes with a state view.

The model cannot have known what lies outside its view, so an operation that writes there (or moves a
value from there) is rejected with the reason and re-asked. The one exception is creating a new record
in a collection the tool is allowed to grow (`allow_create: [/tickets]`): `add` to `/tickets/-`, to the
array's end index, or to a key the collection does not have yet (and, later in the same patch, anything
under that new record).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from envsim.environments.state_view import StateView, expand_pointer, is_within, resolve, split_pointer

_WRITES = {"add", "remove", "replace", "move", "copy"}


def view_violation(
    patch: Any,
    view: StateView,
    state: Any,
    *,
    allow_create: Sequence[str] = (),
    arguments: Mapping[str, Any] | None = None,
) -> str | None:
    """Why `patch` reaches outside `view` (one sentence for the model), or None when it stays inside.

    Malformed operations are left to the patch applier, which names their problem precisely."""
    if view.is_whole or not isinstance(patch, list):
        return None
    shown = view.pointers
    collections = [p for template in allow_create for p in expand_pointer(template, arguments or {})]
    created: list[str] = []
    for index, operation in enumerate(patch):
        if not isinstance(operation, dict) or operation.get("op") not in _WRITES:
            continue  # `test` only reads; malformed operations fail later with their own reason
        path, source = operation.get("path"), operation.get("from")
        if not isinstance(path, str):
            continue
        targets = [path] + ([source] if operation["op"] == "move" and isinstance(source, str) else [])
        reads = [source] if operation["op"] == "copy" and isinstance(source, str) else []
        for pointer in targets + reads:
            if any(is_within(pointer, p) for p in [*shown, *created]):
                continue
            if pointer == path and operation["op"] in ("add", "copy") and _creates(pointer, state, collections):
                created.append(pointer)
                continue
            return _reason(index, operation, pointer, shown, collections)
    return None


def _creates(pointer: str, state: Any, collections: Sequence[str]) -> bool:
    """Whether adding at `pointer` makes a new record directly in one of `collections`."""
    try:
        tokens = split_pointer(pointer)
    except ValueError:
        return False
    if not tokens:
        return False
    parent = pointer[: pointer.rfind("/")]
    if parent not in collections:
        return False
    container = resolve(state, parent)
    last = tokens[-1]
    if isinstance(container, list):
        return last == "-" or (last.isdigit() and int(last) == len(container))
    if isinstance(container, dict):
        return last not in container
    return False


def _reason(index: int, operation: dict[str, Any], pointer: str, shown: list[str], collections: list[str]) -> str:
    listing = ", ".join(p or "(whole state)" for p in shown[:12]) + (" …" if len(shown) > 12 else "")
    reason = (
        f"operation {index} ({operation['op']} {operation['path']}) touches {pointer}, which is outside the part "
        f"of the state you were shown ({listing or 'nothing'}); you cannot know what is there, so the patch was "
        "not applied. Change only what the state view shows"
    )
    if collections:
        reason += f", or add new records to {', '.join(collections)}"
    return reason + "."

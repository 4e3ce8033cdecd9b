"""One environment instance's state, with the state rule applied at the cost of the change.

    store = StateStore(shared, schema)          # O(1): an overlay over the shared initial state
    view = store.view(read_only=False)          # what a python tool mutates
    t = store.propose_view(view, read_only)     # the tracked patch, checked incrementally
    t = store.propose_patch(patch, read_only)   # a synthetic tool's patch, checked the same way
    store.commit(t.patch)                       # only for accepted transitions; updates the hash

The rule (DESIGN.md) is unchanged: a change is applied only if it applies cleanly, the result
validates against the state schema and the tool is not read-only; initial state + recorded patches ==
final state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from envsim.environments.incremental_schema import Change, IncrementalValidator, incremental_validator
from envsim.environments.json_diff import json_diff
from envsim.environments.json_patch import PatchError, apply_in_place
from envsim.environments.overlay import to_plain
from envsim.environments.state_tree import SharedState, StateTree, parse_pointer
from envsim.environments.tracked_state import READ_ONLY_MESSAGE, TrackedDict, close_view, open_view, view_patch

State = dict[str, Any]
Patch = list[dict[str, Any]]


@dataclass(frozen=True)
class Transition:
    """Outcome of proposing a state change: accepted (new state + patch) or rejected (reason)."""

    state: State
    patch: Patch = field(default_factory=list)
    rejected: str | None = None

    @property
    def ok(self) -> bool:
        return self.rejected is None


def changes_of(patch: Patch) -> list[Change]:
    """The locations a normalized (add/remove/replace) patch touches, for the validator."""
    return [(op["op"], parse_pointer(op["path"])) for op in patch]


class StateStore:
    def __init__(self, shared: SharedState, schema: dict[str, Any] | None) -> None:
        self.shared = shared
        self.schema = schema
        self.validator: IncrementalValidator | None = incremental_validator(schema) if schema else None
        self.tree = StateTree(shared, owner=self)

    @property
    def root(self) -> State:
        return self.tree.root

    @property
    def hash(self) -> str:
        return self.tree.hash

    def materialize(self) -> State:
        return self.tree.materialize()

    def view(self, *, read_only: bool) -> TrackedDict:
        return open_view(self.tree.root, read_only=read_only)

    def initial_errors(self) -> list[str]:
        """Problems of the shared initial state (validated once per shared state and schema)."""
        if self.validator is None:
            return []
        return self.shared.verdict(self.validator.key, self.validator.full_errors)

    # ------------------------------------------------------------------ proposals

    def propose_view(self, view: TrackedDict, *, read_only: bool, schema: dict[str, Any] | None = None) -> Transition:
        """The change a tool made through `view` (closed by this call), under the rule."""
        close_view(view)
        if view._ctx.violation is not None:
            return Transition(state=self.root, rejected=READ_ONLY_MESSAGE)
        try:
            patch = view_patch(view)
        except (TypeError, ValueError, RecursionError) as exc:
            return Transition(
                state=self.root, rejected=f"the state change was not applied: the new state is not JSON ({exc})"
            )
        return self._checked(view, patch, patch, read_only=read_only, schema=schema)

    def propose_patch(self, patch: Any, *, read_only: bool, schema: dict[str, Any] | None = None) -> Transition:
        view = self.view(read_only=False)
        try:
            apply_in_place(view, patch)
        except PatchError as exc:
            return Transition(state=self.root, rejected=f"the state patch was not applied: {exc.message}")
        close_view(view)
        return self._checked(view, view_patch(view), list(patch), read_only=read_only, schema=schema)

    def propose_state(self, new_state: Any, *, read_only: bool, schema: dict[str, Any] | None = None) -> Transition:
        """A tool produced a whole new state: diff it (O(state), the documented fallback) and check."""
        try:
            plain = to_plain(new_state)
        except (TypeError, ValueError, RecursionError) as exc:
            return Transition(
                state=self.root,
                rejected=f"the state change was not applied: the new state is not JSON-serializable ({exc})",
            )
        if not isinstance(plain, dict):
            return Transition(state=self.root, rejected=f"the state must be a JSON object, got {type(plain).__name__}")
        patch = json_diff(self.materialize(), plain)
        return self.propose_patch(patch, read_only=read_only, schema=schema)

    def _checked(
        self, view: TrackedDict, normalized: Patch, recorded: Patch, *, read_only: bool, schema: dict[str, Any] | None
    ) -> Transition:
        if not normalized:
            return Transition(state=self.root)  # no change: nothing to record, allowed even for read-only tools
        if read_only:
            return Transition(state=self.root, rejected=READ_ONLY_MESSAGE)
        validator = self.validator if schema is None or schema is self.schema else incremental_validator(schema)
        if validator is not None:
            problems = validator.errors(view, changes_of(normalized))
            if problems:
                return Transition(
                    state=self.root,
                    rejected="the new state would not match the state schema: " + "; ".join(problems[:5]),
                )
        return _Accepted(state=view, patch=recorded, normalized=normalized)

    def commit(self, transition_or_patch: Transition | Patch) -> None:
        """Apply an accepted change. A plain patch is tried on a view first, so a bad one changes nothing."""
        if isinstance(transition_or_patch, _Accepted):
            self.tree.apply(transition_or_patch.normalized)
            return
        patch = transition_or_patch.patch if isinstance(transition_or_patch, Transition) else transition_or_patch
        view = self.view(read_only=False)
        apply_in_place(view, patch)
        self.tree.apply(view_patch(view))


@dataclass(frozen=True)
class _Accepted(Transition):
    normalized: Patch = field(default_factory=list)  # the same change as add/remove/replace ops only

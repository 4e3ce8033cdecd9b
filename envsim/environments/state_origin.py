"""Where an environment instance's state started: a shared base state and the JSON Patch over it.

Every episode of a run starts from the same few `SharedState`s (the catalog's initial state, loaded
once per process). Knowing the base and the override patch, an episode's initial state is an O(change)
view (`StateOrigin.initial()`), its final state is the environment's committed overlay (both read-only
views: a write raises instead of changing what other episodes share), and a recorder
can store the base once per run and write only a reference and the patches into each trace
(envsim.recording.state_store). Nothing here copies or serializes the state.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from envsim.environments.overlay import to_plain
from envsim.environments.state_tree import SharedState, StateTree
from envsim.environments.tracked_state import open_view


@dataclass(frozen=True)
class StateOrigin:
    """initial state = `base.value` + `patch` (add/remove/replace operations, known to apply)."""

    base: SharedState
    patch: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def of(cls, base: SharedState, patch: list[dict[str, Any]] | None = None) -> StateOrigin:
        # Plain JSON values: the patch is recorded as it is, and must not share containers with a state.
        return cls(base, [to_plain(op) for op in patch or []])

    def initial(self) -> dict[str, Any]:
        """The initial state: a read-only view of the shared base, or of an overlay of the patch over it."""
        if not self.patch:
            return read_only(self.base.value)
        tree = StateTree(self.base)
        tree.apply(self.patch)
        return read_only(tree.root)


def read_only(state: Mapping[str, Any]) -> dict[str, Any]:
    """`state` behind a read-only view (O(1)): it reads as the dict it is (isinstance, json.dumps, ==,
    JSON Pointers), and any write raises ReadOnlyStateError, so nobody changes a shared base by accident."""
    return open_view(state, read_only=True)

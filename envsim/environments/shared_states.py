"""Per-process caches of what every episode of a run shares: catalog states, validators, tool handlers.

Every conversation builds fresh environment instances; they all start from the same `SharedState`
(immutable, copied, hashed and validated once) with their own overlay, and reuse the resolved tool
handlers and the schema's validator, so starting an episode is O(1) in the state's size. Entries are
keyed by the identity of the config objects (configs are built once per run and never mutated) and
hold those objects, so an id is never reused while its entry lives.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

from envsim.environments.state_tree import SharedState

T = TypeVar("T")


class IdentityCache(Generic[T]):
    """A small LRU keyed by the identity of objects (plus an optional hashable extra)."""

    def __init__(self, max_entries: int) -> None:
        self._entries: OrderedDict[tuple[int, Hashable], tuple[Any, T]] = OrderedDict()
        self._max = max_entries
        self._lock = threading.Lock()

    def get(self, owner: Any, compute: Callable[[], T], extra: Hashable = None) -> T:
        key = (id(owner), extra)
        with self._lock:
            known = self._entries.get(key)
            if known is not None and known[0] is owner:
                self._entries.move_to_end(key)
                return known[1]
        value = compute()  # outside the lock: may be O(state) the first time
        with self._lock:
            self._entries[key] = (owner, value)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
        return value


_STATES: IdentityCache[SharedState] = IdentityCache(16)  # distinct catalog states of a run: a handful


def shared_initial_state(initial_state: dict[str, Any]) -> SharedState:
    """The shared state of a catalog's `initial_state` (the same object for the same dict)."""
    return _STATES.get(initial_state, lambda: SharedState.of(initial_state))

"""Per-process caches of what every episode of a run shares: catalog states, validators, tool handlers.

Every conversation builds fresh environment instances; they all start from the same `SharedState`
(immutable, copied, hashed and validated once) with their own overlay, and reuse the resolved tool
handlers and the schema's validator, so starting an episode is O(1) in the state's size. Entries are
keyed by the identity of the config objects (configs are built once per run and never mutated) and
hold those objects, so an id is never reused while its entry lives.
"""

from __future__ import annotations

import gc
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


# A catalog state with at least this many containers (objects and arrays) is frozen out of the cyclic GC.
GC_FREEZE_MIN_CONTAINERS = 10_000


def shared_initial_state(initial_state: dict[str, Any]) -> SharedState:
    """The shared state of a catalog's `initial_state` (the same object for the same dict)."""
    return _STATES.get(initial_state, lambda: _out_of_the_collector(SharedState.of(initial_state)))


def _out_of_the_collector(shared: SharedState) -> SharedState:
    """Python's cyclic GC walks every reference of every live container on each full collection: with
    tau2's retail DB loaded (two copies: the config's and the shared one) each is a 120-250 ms pause (one
    or two per round of tau2's 114 gold replays), growing with the state. `gc.freeze()` moves everything
    alive now, these states among it, to the permanent generation that collections skip (the replays:
    20-30% less CPU, per-task maximum 100-250 -> 30-60 ms). It is process-wide and meant for what lives
    for the run, as what is alive when a catalog state is loaded does; `gc.unfreeze()` undoes it."""
    if len(shared.digests) >= GC_FREEZE_MIN_CONTAINERS:
        gc.freeze()
    return shared

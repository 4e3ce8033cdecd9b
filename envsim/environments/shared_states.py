"""The per-process cache of catalog initial states: each is copied, hashed and validated once.

Every conversation builds fresh environment instances; they all start from the same `SharedState`
(immutable) with their own overlay, so starting an episode is O(1) in the state's size. Keyed by the
identity of the config's `initial_state` dict (configs are built once per run and never mutated).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from envsim.environments.state_tree import SharedState

_MAX_ENTRIES = 16  # distinct catalog states alive at once in one process (a run has a handful)
_cache: OrderedDict[int, tuple[dict[str, Any], SharedState]] = OrderedDict()
_lock = threading.Lock()


def shared_initial_state(initial_state: dict[str, Any]) -> SharedState:
    """The shared state of a catalog's `initial_state` (the same object for the same dict)."""
    key = id(initial_state)
    with _lock:
        known = _cache.get(key)
        if known is not None and known[0] is initial_state:
            _cache.move_to_end(key)
            return known[1]
    shared = SharedState.of(initial_state)  # outside the lock: O(state) the first time
    with _lock:
        _cache[key] = (initial_state, shared)  # holding the dict keeps its id from being reused
        while len(_cache) > _MAX_ENTRIES:
            _cache.popitem(last=False)
    return shared

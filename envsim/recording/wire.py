"""Traces between processes: each distinct base state crosses once, then only references and patches.

A worker process (envsim.simulation.processes) sends every finished trace to the parent, which records
it. Dumping a live trace whole would serialize every environment's state per episode (and the parent
would parse it, serialize it again and hash it to store it). Instead `TraceSender` sends, for each
environment with a known origin, the sha256 of its base state's canonical JSON and the override patch,
and the base state itself only the first time this worker sends it; `TraceReceiver` keeps the bases it
was sent and rebuilds the states from base + patches (sharing unchanged subtrees), so the parent's
trace has its states and its origins, as one from an episode of its own.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from typing import Any

from envsim.canonical import canonical_json
from envsim.environments.state_origin import StateOrigin, read_only
from envsim.environments.state_tree import SharedState
from envsim.errors import RunError
from envsim.recording.shared_patch import apply_patch_shared
from envsim.recording.trace import Trace

# Bases remembered on both sides (per worker): the sender's and the receiver's LRUs see the same keys in
# the same order, so they always agree on what the parent holds; evicted ones are simply sent again.
# Bounded, because a full-state override makes a new base per episode.
KNOWN_BASES = 16


class _Known:
    """An LRU set of base-state digests, updated identically by a sender and its receiver."""

    def __init__(self) -> None:
        self._order: OrderedDict[str, None] = OrderedDict()

    def __contains__(self, sha256: object) -> bool:
        return sha256 in self._order

    def touch(self, sha256: str) -> None:
        self._order.move_to_end(sha256)

    def add(self, sha256: str) -> str | None:
        """Remember `sha256`; returns the digest it evicted, if any."""
        self._order[sha256] = None
        return self._order.popitem(last=False)[0] if len(self._order) > KNOWN_BASES else None


class TraceSender:
    """Worker side: `encode(trace)` -> text for this worker's `TraceReceiver.decode`."""

    def __init__(self) -> None:
        self._digests: OrderedDict[int, tuple[SharedState, str]] = OrderedDict()  # id(base) -> (base, sha256)
        self._sent = _Known()

    def encode(self, trace: Trace) -> str:
        origins = trace.state_origins
        record = trace.model_dump(mode="json", exclude={"initial_state": set(origins), "final_state": set(origins)})
        bases: dict[str, Any] = {}
        wired: dict[str, dict[str, Any]] = {}
        for env_id, origin in origins.items():
            sha256 = self._digest(origin.base)
            if sha256 in self._sent:
                self._sent.touch(sha256)
            else:
                self._sent.add(sha256)
                bases[sha256] = origin.base.value
            wired[env_id] = {"base": sha256, "patch": origin.patch}
        order = {"initial_state": list(trace.initial_state), "final_state": list(trace.final_state)}
        return json.dumps({"trace": record, "origins": wired, "order": order, "bases": bases}, ensure_ascii=False)

    def _digest(self, base: SharedState) -> str:
        known = self._digests.get(id(base))
        if known is None or known[0] is not base:
            text = canonical_json(base.value)  # once per base, not per trace
            known = (base, hashlib.sha256(text.encode("utf-8")).hexdigest())
            self._digests[id(base)] = known
            if len(self._digests) > KNOWN_BASES:
                self._digests.popitem(last=False)
        self._digests.move_to_end(id(base))
        return known[1]


class TraceReceiver:
    """Parent side, one per worker: the bases that worker sent, shared by the traces that refer to them."""

    def __init__(self) -> None:
        self._bases: dict[str, SharedState] = {}
        self._known = _Known()

    def decode(self, payload: str) -> Trace:
        data = json.loads(payload)
        trace = Trace.model_validate(data["trace"])
        bases: dict[str, SharedState] = {}
        for wired in data["origins"].values():  # the sender's order: both LRUs stay the same
            sha256 = wired["base"]
            if sha256 in data["bases"] and sha256 not in bases:  # sent now (a second use is a touch)
                # Never stepped here: no Merkle digests needed, the recorder only reads and serializes it.
                self._bases[sha256] = SharedState(value=data["bases"][sha256])
                evicted = self._known.add(sha256)
                if evicted is not None:
                    self._bases.pop(evicted, None)
            elif sha256 in self._known:
                self._known.touch(sha256)
            if sha256 not in self._bases:
                raise RunError(f"a worker referred to a state it never sent ({sha256[:12]}…) in {trace.episode_id}")
            bases[sha256] = self._bases[sha256]
        states = {"initial_state": dict(trace.initial_state), "final_state": dict(trace.final_state)}
        origins = {}
        for env_id, wired in data["origins"].items():
            origin = StateOrigin(bases[wired["base"]], wired["patch"])
            initial = final = apply_patch_shared(origin.base.value, origin.patch)
            for step in trace.steps:
                if step.environment == env_id and step.patch and step.error is None:
                    final = apply_patch_shared(final, step.patch)
            # read-only, as in the worker: they share the base with this worker's later traces
            states["initial_state"][env_id], states["final_state"][env_id] = read_only(initial), read_only(final)
            origins[env_id] = origin
        trace.initial_state = {env_id: states["initial_state"][env_id] for env_id in data["order"]["initial_state"]}
        trace.final_state = {env_id: states["final_state"][env_id] for env_id in data["order"]["final_state"]}
        trace.set_state_origins(origins)
        return trace

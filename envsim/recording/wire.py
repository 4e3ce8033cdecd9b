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
from typing import Any

from envsim.canonical import canonical_json
from envsim.environments.state_origin import StateOrigin
from envsim.environments.state_tree import SharedState
from envsim.errors import RunError
from envsim.recording.shared_patch import apply_patch_shared
from envsim.recording.trace import Trace


class TraceSender:
    """Worker side: `encode(trace)` -> text for `TraceReceiver.decode`."""

    def __init__(self) -> None:
        self._sent: dict[int, tuple[SharedState, str]] = {}  # id(base) -> (base, sha256); holds the base

    def encode(self, trace: Trace) -> str:
        origins = trace.state_origins
        record = trace.model_dump(mode="json", exclude={"initial_state": set(origins), "final_state": set(origins)})
        bases: dict[str, Any] = {}
        wired: dict[str, dict[str, Any]] = {}
        for env_id, origin in origins.items():
            known = self._sent.get(id(origin.base))
            if known is None or known[0] is not origin.base:
                text = canonical_json(origin.base.value)
                known = (origin.base, hashlib.sha256(text.encode("utf-8")).hexdigest())
                self._sent[id(origin.base)] = known
                bases[known[1]] = origin.base.value
            wired[env_id] = {"base": known[1], "patch": origin.patch}
        order = {"initial_state": list(trace.initial_state), "final_state": list(trace.final_state)}
        return json.dumps({"trace": record, "origins": wired, "order": order, "bases": bases}, ensure_ascii=False)


class TraceReceiver:
    """Parent side: the bases each worker sent, shared by the traces that refer to them."""

    def __init__(self) -> None:
        self._bases: dict[str, SharedState] = {}

    def decode(self, payload: str) -> Trace:
        data = json.loads(payload)
        for sha256, value in data["bases"].items():
            # Never stepped here: no Merkle digests needed, the recorder only reads and serializes it.
            self._bases.setdefault(sha256, SharedState(value=value))
        trace = Trace.model_validate(data["trace"])
        states = {"initial_state": dict(trace.initial_state), "final_state": dict(trace.final_state)}
        origins = {}
        for env_id, wired in data["origins"].items():
            base = self._bases.get(wired["base"])
            if base is None:
                raise RunError(f"a worker sent episode {trace.episode_id} before the state {wired['base'][:12]}…")
            origin = StateOrigin(base, wired["patch"])
            initial = final = apply_patch_shared(base.value, origin.patch)
            for step in trace.steps:
                if step.environment == env_id and step.patch and step.error is None:
                    final = apply_patch_shared(final, step.patch)
            states["initial_state"][env_id], states["final_state"][env_id] = initial, final
            origins[env_id] = origin
        trace.initial_state = {env_id: states["initial_state"][env_id] for env_id in data["order"]["initial_state"]}
        trace.final_state = {env_id: states["final_state"][env_id] for env_id in data["order"]["final_state"]}
        trace.set_state_origins(origins)
        return trace

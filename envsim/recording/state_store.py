"""States by reference: a content-addressed store in the run directory, so a trace's size does not grow
with the state's.

    states/<sha256>.json    the canonical JSON (sorted keys, no whitespace) of one initial state, written
                            once however many episodes start from it; <sha256> is the hash of its bytes

A trace line keeps an environment's initial state inline when its canonical JSON is at most
`INLINE_LIMIT_BYTES` (small runs stay self-contained); otherwise it records a `StateRef` under
`state_refs` and neither the initial nor the final state. The final state is the initial state plus the
recorded patches, recomputed when the trace is loaded (sharing the unchanged parts, see shared_patch), and
every step's `state_hash` still pins the state after it.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from pathlib import Path
from typing import Any

from envsim.canonical import canonical_json
from envsim.environments.state import PatchError
from envsim.errors import DataError
from envsim.recording import jsonl
from envsim.recording.shared_patch import apply_patch_shared
from envsim.recording.trace import StateRef, Trace

STATES_DIR = "states"
INLINE_LIMIT_BYTES = 16 * 1024
_CACHED_STATES = 4  # parsed states kept per reader: episodes of a run share a few initial states


class StateStore:
    """`states/` of one run directory: put canonical JSON once, get parsed states back (verified)."""

    def __init__(self, run_path: Path, *, fsync: bool = False) -> None:
        self.run_path = run_path
        self.fsync = fsync
        self._written: set[str] = set()
        self._parsed: OrderedDict[str, Any] = OrderedDict()

    def put(self, canonical: bytes) -> StateRef:
        digest = hashlib.sha256(canonical).hexdigest()
        relative = f"{STATES_DIR}/{digest}.json"
        if digest not in self._written:
            target = self.run_path / relative
            if not target.exists():  # content-addressed: an existing file already holds these bytes
                target.parent.mkdir(exist_ok=True)
                jsonl.atomic_write_bytes(target, [canonical], fsync=self.fsync)
            self._written.add(digest)
        return StateRef(sha256=digest, path=relative, bytes=len(canonical))

    def get(self, ref: StateRef) -> Any:
        """The state `ref` names (shared between callers: read-only); DataError when missing or altered."""
        if ref.sha256 in self._parsed:
            self._parsed.move_to_end(ref.sha256)
            return self._parsed[ref.sha256]
        path = self.run_path / ref.path
        if Path(ref.path).is_absolute() or ".." in Path(ref.path).parts:
            raise DataError(f"state reference {ref.path!r} points outside the run directory {self.run_path}")
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise DataError(
                f"the state {ref.path} of a trace in {self.run_path} cannot be read ({exc.strerror or exc})",
                hint="the run directory is incomplete: copy its states/ folder along with traces.jsonl",
            ) from exc
        if hashlib.sha256(data).hexdigest() != ref.sha256:
            raise DataError(
                f"{path} does not hold the state its name promises (sha256 mismatch): it was altered",
                hint="restore the file from a copy of the run, or redo the run",
            )
        value = jsonl.parse_line(path, 1, data)
        self._parsed[ref.sha256] = value
        if len(self._parsed) > _CACHED_STATES:
            self._parsed.popitem(last=False)
        return value


def externalize_states(record: dict[str, Any], store: StateStore, *, limit: int = INLINE_LIMIT_BYTES) -> None:
    """In a trace record about to be written: move every initial state larger than `limit` bytes into the
    store (a reference stays), and drop its final state, which the patches recompute."""
    initial = record.get("initial_state") or {}
    refs = record.setdefault("state_refs", {})
    for env_id in list(initial):
        canonical = canonical_json(initial[env_id]).encode("utf-8")
        if len(canonical) <= limit:
            continue
        refs[env_id] = store.put(canonical).model_dump(mode="json")
        del initial[env_id]
        (record.get("final_state") or {}).pop(env_id, None)


def resolve_states(trace: Trace, store: StateStore) -> Trace:
    """Fill in the initial and final state of every environment the trace holds by reference.

    The final state is the initial state plus the environment's recorded patches; when a patch does not
    apply (a corrupt trace), the final state is left out and `verify_trace` reports why."""
    for env_id, ref in trace.state_refs.items():
        if env_id in trace.initial_state:
            continue
        state = store.get(ref)
        trace.initial_state[env_id] = state
        try:
            for step in trace.steps:
                if step.environment == env_id and step.patch and step.error is None:
                    state = apply_patch_shared(state, step.patch)
        except PatchError:
            continue
        trace.final_state[env_id] = state
    return trace

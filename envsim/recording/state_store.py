"""States by reference: a content-addressed store in the run directory, so a trace's size does not grow
with the state's.

    states/<sha256>.json    the canonical JSON (sorted keys, no whitespace) of one initial state, written
                            once however many episodes start from it; <sha256> is the hash of its bytes

A trace line keeps an environment's initial state inline when its canonical JSON is at most
`INLINE_LIMIT_BYTES` (small runs stay self-contained); otherwise it records a `StateRef` under
`state_refs` and neither the initial nor the final state. The final state is the initial state plus the
recorded patches, recomputed when the trace is loaded (sharing the unchanged parts, see shared_patch), and
every step's `state_hash` still pins the state after it.

Recording costs what the episode changed: a trace fresh from an episode names the shared base state each
environment started from (`Trace.state_origins`), and the store serializes and hashes each distinct base
once (per store, i.e. per run directory and process), then only writes its reference, plus the
scenario's override patch over it (`StateRef.patch`). States without a known origin (custom
environment kinds, traces that crossed a process boundary) are serialized per trace, as before.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envsim.canonical import canonical_json
from envsim.environments.overlay import to_plain
from envsim.environments.state import PatchError
from envsim.environments.state_tree import SharedState
from envsim.errors import DataError
from envsim.recording import jsonl
from envsim.recording.shared_patch import apply_patch_shared
from envsim.recording.trace import StateRef, Trace

STATES_DIR = "states"
INLINE_LIMIT_BYTES = 16 * 1024
_CACHED_STATES = 4  # parsed states kept per reader: episodes of a run share a few initial states
_KNOWN_BASES = 16  # shared base states a writer remembers: a run's catalogs have a handful


@dataclass(frozen=True)
class _BaseContent:
    """What the store knows of one shared base state: the sha256 and size of its canonical JSON."""

    base: SharedState  # held, so its id is never reused while this entry lives
    sha256: str
    size: int


class StateStore:
    """`states/` of one run directory: put canonical JSON once, get parsed states back (verified)."""

    def __init__(self, run_path: Path, *, fsync: bool = False) -> None:
        self.run_path = run_path
        self.fsync = fsync
        self._written: set[str] = set()
        self._parsed: OrderedDict[str, Any] = OrderedDict()
        # id(SharedState) -> its content's identity; bounded: full-state overrides make a base per episode
        self._bases: OrderedDict[int, _BaseContent] = OrderedDict()

    def base_content(self, base: SharedState, *, store_if_larger_than: int) -> _BaseContent:
        """The sha256 and size of a shared base state's canonical JSON, serialized once per base (not per
        trace); written to states/ the first time when larger than `store_if_larger_than` bytes."""
        known = self._bases.get(id(base))
        if known is None or known.base is not base:
            canonical = canonical_json(base.value).encode("utf-8")
            if len(canonical) > store_if_larger_than:
                ref = self.put(canonical)
                known = _BaseContent(base, ref.sha256, ref.bytes)
            else:
                known = _BaseContent(base, hashlib.sha256(canonical).hexdigest(), len(canonical))
            self._bases[id(base)] = known
            if len(self._bases) > _KNOWN_BASES:
                self._bases.popitem(last=False)
        elif known.size > store_if_larger_than and known.sha256 not in self._written:
            self.put(canonical_json(base.value).encode("utf-8"))  # stored under a smaller limit than before
        self._bases.move_to_end(id(base))
        return known

    def put(self, canonical: bytes) -> StateRef:
        digest = hashlib.sha256(canonical).hexdigest()
        relative = _relative(digest)
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


def externalize_states(
    record: dict[str, Any], store: StateStore, *, trace: Trace | None = None, limit: int = INLINE_LIMIT_BYTES
) -> None:
    """In a trace record about to be written: every initial state larger than `limit` bytes goes into the
    store (a reference stays) and its final state is dropped, since the patches recompute it.

    With `trace`, the live trace the record was dumped from leaving out the states of environments with
    a known origin (`deterministic_record` does): a large base becomes a reference (its content
    serialized once per store, not per trace), a small one is written inline."""
    initial: dict[str, Any] = record.get("initial_state") or {}
    final: dict[str, Any] = record.get("final_state") or {}
    refs = record.setdefault("state_refs", {})
    origins = trace.state_origins if trace is not None else {}
    live_initial = trace.initial_state if trace is not None else initial  # every environment, in order
    live_final = trace.final_state if trace is not None else final
    by_ref: set[str] = set()
    kept_initial = {}
    for env_id in live_initial:
        origin = origins.get(env_id)
        if origin is not None:
            content = store.base_content(origin.base, store_if_larger_than=limit)
            if content.size <= limit:
                kept_initial[env_id] = to_plain(live_initial[env_id])
                continue
            ref = StateRef(sha256=content.sha256, path=_relative(content.sha256), bytes=content.size)
            refs[env_id] = ref.model_copy(update={"patch": origin.patch}).model_dump(mode="json")
        else:
            canonical = canonical_json(initial[env_id]).encode("utf-8")
            if len(canonical) <= limit:
                kept_initial[env_id] = initial[env_id]
                continue
            refs[env_id] = store.put(canonical).model_dump(mode="json")
        by_ref.add(env_id)
    kept_final = {}
    for env_id in live_final:
        if env_id not in by_ref:
            kept_final[env_id] = to_plain(live_final[env_id]) if env_id in origins else final[env_id]
    if "initial_state" in record:
        record["initial_state"] = kept_initial
    if "final_state" in record:
        record["final_state"] = kept_final


def _relative(sha256: str) -> str:
    return f"{STATES_DIR}/{sha256}.json"


def resolve_states(trace: Trace, store: StateStore) -> Trace:
    """Fill in the initial and final state of every environment the trace holds by reference.

    The final state is the initial state plus the environment's recorded patches; when a patch does not
    apply (a corrupt trace), the final state is left out and `verify_trace` reports why."""
    for env_id, ref in trace.state_refs.items():
        if env_id in trace.initial_state:
            continue
        state = store.get(ref)
        try:
            state = apply_patch_shared(state, ref.patch)  # a scenario's override over the stored state
        except PatchError:
            continue  # the initial state is unknown: verify_trace reports the missing states
        trace.initial_state[env_id] = state
        try:
            for step in trace.steps:
                if step.environment == env_id and step.patch and step.error is None:
                    state = apply_patch_shared(state, step.patch)
        except PatchError:
            continue
        trace.final_state[env_id] = state
    return trace

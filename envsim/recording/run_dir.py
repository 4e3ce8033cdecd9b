"""The run directory: the one place a run's results live, append-only and resumable.

Layout:
    manifest.json    what the run was started with (RunManifest)
    status.json      where it stands (RunStatus), rewritten atomically
    traces.jsonl     one line per successful episode
    failures.jsonl   one line per failed episode
    timings.jsonl    what depends on the run rather than the conversation: wall time, step latencies, usage
                     and cache flags, per episode. Kept apart so traces.jsonl is the same bytes whether
                     responses came from the network or the cache, in one go or after a resume; readers
                     merge it back, so loaded traces are complete.
    states/          initial states too large to inline in a trace line, by sha256 (see state_store);
                     readers put them back, and recompute final states from the patches

A killed writer loses at most the episodes in flight: each finished episode is one flushed line, a torn
last line is ignored by readers and truncated away on resume, and an episode id is never written twice.
"""

from __future__ import annotations

import heapq
import itertools
import json
import os
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from pydantic import ValidationError

from envsim.errors import DataError, RunError
from envsim.models.base import Usage
from envsim.recording import jsonl
from envsim.recording.manifest import RunManifest
from envsim.recording.state_store import StateStore, externalize_states, resolve_states
from envsim.recording.status import RunState, RunStatus
from envsim.recording.trace import EpisodeStatus, Trace

try:  # POSIX advisory lock: two processes must never append to the same run
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

MANIFEST_FILE = "manifest.json"
STATUS_FILE = "status.json"
TRACES_FILE = "traces.jsonl"
FAILURES_FILE = "failures.jsonl"
TIMINGS_FILE = "timings.jsonl"
LOCK_FILE = ".lock"
_MAX_DETAIL_LINES = 20

SortKey = tuple[int, int, str]
_LineAt = tuple[SortKey, int, int]  # a recorded line: its trace order key, byte offset and length


def trace_sort_key(record: dict[str, Any]) -> SortKey:
    return (int(record.get("sample_index", 0)), int(record.get("trial", 0)), str(record["episode_id"]))


_STEP_MEASUREMENTS = {"latency_s", "cached", "usage"}


def deterministic_record(trace: Trace) -> dict[str, Any]:
    """The trace as written to traces.jsonl: everything except the run-dependent measurements, and
    except the states of environments with a known origin, which `externalize_states` adds (by
    reference or inline) without dumping a whole state."""
    exclude: dict[str, Any] = {"wall_time_s": True, "usage": True, "steps": {"__all__": _STEP_MEASUREMENTS}}
    origins = set(trace.state_origins)
    if origins:
        exclude |= {"initial_state": origins, "final_state": origins}
    return trace.model_dump(mode="json", exclude=exclude)


def timing_record(trace: Trace) -> dict[str, Any]:
    """The run-dependent measurements of a trace, for timings.jsonl."""
    return {
        "episode_id": trace.episode_id,
        "wall_time_s": trace.wall_time_s,
        "usage": {role: usage.model_dump(mode="json") for role, usage in trace.usage.items()},
        "steps": [step.model_dump(mode="json", include=_STEP_MEASUREMENTS) for step in trace.steps],
    }


class RunDirectory:
    """A run directory opened for writing (with a manifest) or read-only (without)."""

    def __init__(self, path: Path, manifest: RunManifest, *, writable: bool, fsync: bool = False) -> None:
        self.path = path
        self.manifest = manifest
        self.writable = writable
        self.fsync = fsync
        self._lock = threading.Lock()
        self._handles: dict[str, IO[bytes]] = {}
        self._lock_handle: IO[str] | None = None
        self._finished: set[str] = set()
        # Where each recorded line sits, so `finalize` reorders the files without re-parsing them
        # (seconds on a large run): trace order keys for traces/failures, the latest line per episode
        # for timings (a redone episode's last timing wins).
        self._lines: dict[str, list[_LineAt]] = {TRACES_FILE: [], FAILURES_FILE: []}
        self._timing_lines: dict[str, tuple[int, int]] = {}
        self._done = 0
        self._failed = 0
        self._total: int | None = None
        self.states = StateStore(path, fsync=fsync)

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        manifest: RunManifest | None,
        force: bool = False,
        fsync: bool = False,
    ) -> RunDirectory:
        """Create or resume a run directory (with `manifest`), or open an existing one read-only (None).

        Resuming with a manifest whose config hash, seed or models differ raises RunError unless `force`;
        a forced resume keeps the old manifest as `manifest.superseded-N.json`.
        """
        root = Path(path)
        if manifest is None:
            return cls(root, read_manifest(root), writable=False, fsync=fsync)
        if root.exists() and not root.is_dir():
            raise RunError(f"{root} exists and is a file, not a run directory", hint="choose another --out")
        existing = root / MANIFEST_FILE
        if existing.exists():
            run = cls._resume(root, manifest, force=force, fsync=fsync)
        elif root.exists() and any(p.name != LOCK_FILE for p in root.iterdir()):
            raise RunError(
                f"{root} exists, is not empty and is not an envsim run directory (no {MANIFEST_FILE})",
                hint="choose a new or empty --out directory",
            )
        else:
            root.mkdir(parents=True, exist_ok=True)
            run = cls(root, manifest, writable=True, fsync=fsync)
            run._acquire_lock()
            jsonl.atomic_write_json(root / MANIFEST_FILE, manifest.model_dump(mode="json"), fsync=fsync)
            for name in (TRACES_FILE, FAILURES_FILE, TIMINGS_FILE):
                (root / name).touch()  # the layout is complete from the start: readers find every file
            run.set_status(RunState.QUEUED, detail=["created"])
        return run

    @classmethod
    def _resume(cls, root: Path, manifest: RunManifest, *, force: bool, fsync: bool) -> RunDirectory:
        previous = read_manifest(root)
        changed = previous.differences(manifest)
        if changed and not force:
            raise RunError(
                f"{root} was started with a different config; changed: {', '.join(changed)}",
                hint="use --force to continue anyway or a new --out",
            )
        run = cls(root, manifest if changed else previous, writable=True, fsync=fsync)
        run._acquire_lock()
        if changed:
            number = 1
            while (root / f"manifest.superseded-{number}.json").exists():
                number += 1
            os.replace(root / MANIFEST_FILE, root / f"manifest.superseded-{number}.json")
            jsonl.atomic_write_json(root / MANIFEST_FILE, manifest.model_dump(mode="json"), fsync=fsync)
        for name in (TRACES_FILE, FAILURES_FILE, TIMINGS_FILE):
            jsonl.truncate_torn_tail(root / name)
        run._scan_finished()
        try:
            run._total = run.status().total
        except RunError:
            run._total = None
        return run

    def _acquire_lock(self) -> None:
        handle = (self.path / LOCK_FILE).open("a+", encoding="utf-8")
        if fcntl is not None:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                handle.seek(0)
                owner = handle.read().strip() or "unknown"
                handle.close()
                raise RunError(
                    f"{self.path} is in use by another envsim process (pid {owner})",
                    hint="wait for it to finish or stop it, or choose another --out",
                ) from exc
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._lock_handle = handle

    def _scan_finished(self) -> None:
        for name in (TRACES_FILE, FAILURES_FILE):
            path = self.path / name
            for number, offset, line in jsonl.iter_lines(path):
                key = trace_sort_key(jsonl.parse_line(path, number, line))
                if key[2] in self._finished:
                    continue  # defensive: an id is recorded once
                self._finished.add(key[2])
                self._lines[name].append((key, offset, len(line) + 1))
                if name == TRACES_FILE:
                    self._done += 1
                else:
                    self._failed += 1
        path = self.path / TIMINGS_FILE
        for number, offset, line in jsonl.iter_lines(path):
            self._timing_lines[jsonl.parse_line(path, number, line)["episode_id"]] = (offset, len(line) + 1)

    # ------------------------------------------------------------------ writing

    def finished_episode_ids(self) -> set[str]:
        """Ids of every episode with a complete line in traces.jsonl or failures.jsonl."""
        if self.writable:
            with self._lock:
                return set(self._finished)
        ids: set[str] = set()
        for name in (TRACES_FILE, FAILURES_FILE):
            ids.update(record["episode_id"] for record in jsonl.iter_records(self.path / name))
        return ids

    def append_trace(self, trace: Trace) -> None:
        """Append one finished episode (success -> traces.jsonl, failed -> failures.jsonl), flushed. Thread-safe."""
        self._require_writable("append a trace")
        failed = trace.status is EpisodeStatus.FAILED
        record = deterministic_record(trace)
        externalize_states(record, self.states, trace=trace)  # before the line: a reference always resolves
        key = trace_sort_key(record)
        line = jsonl.dumps_line(record)
        timing = jsonl.dumps_line(timing_record(trace))
        with self._lock:
            if trace.episode_id in self._finished:
                raise RunError(
                    f"episode {trace.episode_id!r} is already recorded in {self.path}",
                    hint="skip the ids in finished_episode_ids() when resuming",
                )
            # The trace line goes first: a kill between the two writes only loses the measurements.
            name = FAILURES_FILE if failed else TRACES_FILE
            self._lines[name].append((key, self._write(name, line), len(line)))
            self._timing_lines[trace.episode_id] = (self._write(TIMINGS_FILE, timing), len(timing))
            self._finished.add(trace.episode_id)
            if failed:
                self._failed += 1
            else:
                self._done += 1

    def _write(self, name: str, line: bytes) -> int:
        """Append `line` to file `name`; returns the offset it was written at."""
        handle = self._handles.get(name)
        if handle is None:
            handle = self._handles[name] = (self.path / name).open("ab")
        offset = handle.tell()
        handle.write(line)
        handle.flush()
        if self.fsync:
            os.fsync(handle.fileno())
        return offset

    def set_status(
        self,
        state: RunState | str,
        *,
        done: int | None = None,
        failed: int | None = None,
        in_flight: int = 0,
        total: int | None = None,
        detail: list[str] | None = None,
    ) -> RunStatus:
        """Rewrite status.json atomically. Counts default to what this directory has recorded."""
        self._require_writable("set the status")
        if total is not None:
            self._total = total
        status = RunStatus.current(
            RunState(state),
            done=self._done if done is None else done,
            failed=self._failed if failed is None else failed,
            in_flight=in_flight,
            total=self._total,
            detailed_status=list(detail or [])[-_MAX_DETAIL_LINES:],
        )
        jsonl.atomic_write_json(self.path / STATUS_FILE, status.model_dump(mode="json"), fsync=self.fsync)
        return status

    def finalize(self, state: RunState | str, *, detail: list[str] | None = None) -> RunStatus:
        """Rewrite traces.jsonl and failures.jsonl in (sample_index, trial, episode_id) order, then set status.

        Completion order depends on concurrency; this order does not, so equal runs give equal bytes.
        """
        self._require_writable("finalize")
        with self._lock:
            self._close_handles()
            order: list[str] = []
            for name in (TRACES_FILE, FAILURES_FILE):
                self._lines[name] = _rewrite_sorted(self.path / name, self._lines[name], fsync=self.fsync)
                order += [key[2] for key, _offset, _length in self._lines[name]]
            self._timing_lines = _rewrite_timings(self.path / TIMINGS_FILE, order, self._timing_lines, fsync=self.fsync)
        return self.set_status(state, in_flight=0, detail=detail)

    def close(self) -> None:
        with self._lock:
            self._close_handles()
            if self._lock_handle is not None:
                if fcntl is not None:
                    fcntl.flock(self._lock_handle.fileno(), fcntl.LOCK_UN)
                self._lock_handle.close()
                self._lock_handle = None

    def _close_handles(self) -> None:
        for handle in self._handles.values():
            handle.close()
        self._handles.clear()

    def __enter__(self) -> RunDirectory:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _require_writable(self, action: str) -> None:
        if not self.writable:
            raise RunError(f"cannot {action}: {self.path} was opened read-only (no manifest given)")

    # ------------------------------------------------------------------ reading

    def status(self) -> RunStatus:
        path = self.path / STATUS_FILE
        if not path.exists():
            raise RunError(f"{path} is missing", hint="the run directory is incomplete; resume the run to recreate it")
        try:
            return RunStatus.model_validate_json(path.read_bytes())
        except ValidationError as exc:
            raise RunError(f"{path} is corrupt: {_first_error(exc)}", hint="resume the run to rewrite it") from exc

    def traces(self, include_failed: bool = False, *, states: bool = True) -> Iterator[Trace]:
        """Stream the recorded episodes (measurements merged back), ordered when the files are finalized.

        `states=False` leaves the states held by reference out (their `state_refs` stay): for readers that
        need only the conversations (exports, datasets, listings), which then never parse a stored state."""
        with _TimingsReader(self.path / TIMINGS_FILE) as timings:
            streams = [self._iter_file(TRACES_FILE, timings, states)]
            if include_failed:
                streams.append(self._iter_file(FAILURES_FILE, timings, states))
            yield from heapq.merge(*streams, key=lambda t: (t.sample_index, t.trial, t.episode_id))

    def _iter_file(self, name: str, timings: _TimingsReader, states: bool) -> Iterator[Trace]:
        path = self.path / name
        for number, _offset, line in jsonl.iter_lines(path):
            record = jsonl.parse_line(path, number, line)
            try:
                trace = Trace.model_validate(record)
            except ValidationError as exc:
                raise DataError(
                    f"{path}:{number}: not a valid trace: {_first_error(exc)}",
                    hint="was it written by a different envsim version? delete the line to have the episode redone",
                ) from exc
            _merge_timing(trace, timings.get(trace.episode_id))
            yield resolve_states(trace, self.states) if states else trace

    def episode_ids(self) -> list[str]:
        return [t.episode_id for t in self.traces(include_failed=True, states=False)]


def read_manifest(root: Path) -> RunManifest:
    path = root / MANIFEST_FILE
    if not root.exists():
        raise RunError(f"no run directory at {root}", hint="pass the --out directory of an `envsim run`")
    if not root.is_dir():
        raise RunError(f"{root} is a file, not a run directory", hint="pass the --out directory of an `envsim run`")
    if not path.exists():
        raise RunError(
            f"{root} is not an envsim run directory (no {MANIFEST_FILE})",
            hint="pass the --out directory of an `envsim run`",
        )
    try:
        return RunManifest.model_validate_json(path.read_bytes())
    except ValidationError as exc:
        raise RunError(f"{path} is corrupt: {_first_error(exc)}", hint="restore it or start a new run") from exc


def load_trace(run_dir: str | os.PathLike[str] | RunDirectory, episode_id: str) -> Trace:
    """One episode by id (or a unique id prefix); the error lists what exists when there is no match."""
    run = run_dir if isinstance(run_dir, RunDirectory) else RunDirectory.open(run_dir, manifest=None)
    matches: list[Trace] = []
    known: list[str] = []
    for trace in run.traces(include_failed=True, states=False):  # only the one asked for needs its states
        if trace.episode_id == episode_id:
            return resolve_states(trace, run.states)
        known.append(trace.episode_id)
        if trace.episode_id.startswith(episode_id):
            matches.append(trace)
    if len(matches) == 1:
        return resolve_states(matches[0], run.states)
    if matches:
        names = ", ".join(t.episode_id for t in matches[:10])
        raise RunError(
            f"episode {episode_id!r} is ambiguous in {run.path}: matches {names}", hint="give more of the id"
        )
    listing = ", ".join(known[:10]) + (f", … ({len(known)} in all)" if len(known) > 10 else "")
    raise RunError(
        f"no episode {episode_id!r} in {run.path}"
        + (f"; episodes: {listing}" if known else "; it has no episodes yet"),
        hint="run `envsim show RUN_DIR` to list the episodes",
    )


class _TimingsReader:
    """Random access to timings.jsonl by episode id; holds only an offset per episode, not the records."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.index: dict[str, tuple[int, int]] = {}
        for number, offset, line in jsonl.iter_lines(path):
            # a redone episode's last line wins
            self.index[jsonl.parse_line(path, number, line)["episode_id"]] = (offset, len(line))
        self.handle: IO[bytes] | None = path.open("rb") if self.index else None

    def get(self, episode_id: str) -> dict[str, Any] | None:
        where = self.index.get(episode_id)
        if where is None or self.handle is None:
            return None
        self.handle.seek(where[0])
        return json.loads(self.handle.read(where[1]))

    def __enter__(self) -> _TimingsReader:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.handle is not None:
            self.handle.close()


def _merge_timing(trace: Trace, timing: dict[str, Any] | None) -> None:
    """Put the measurements back; a trace whose measurements were lost keeps the defaults (zero)."""
    if not timing:
        return
    trace.wall_time_s = float(timing.get("wall_time_s", 0.0))
    trace.usage = {role: Usage.model_validate(u) for role, u in timing.get("usage", {}).items()}
    for step, measured in zip(trace.steps, timing.get("steps", []), strict=False):
        step.latency_s = float(measured.get("latency_s", 0.0))
        step.cached = bool(measured.get("cached", False))
        step.usage = Usage.model_validate(measured["usage"]) if measured.get("usage") is not None else None


def _rewrite_sorted(path: Path, lines: list[_LineAt], *, fsync: bool) -> list[_LineAt]:
    """Rewrite a JSONL file with its `lines` in trace order (copied by offset, not parsed); returns
    where each line sits in the new file."""
    ordered = sorted(lines)
    offsets = _rewrite_lines(path, [(offset, length) for _key, offset, length in ordered], fsync=fsync)
    return [(key, offset, length) for (key, _old, length), offset in zip(ordered, offsets, strict=True)]


def _rewrite_timings(
    path: Path, order: list[str], lines: dict[str, tuple[int, int]], *, fsync: bool
) -> dict[str, tuple[int, int]]:
    """Rewrite timings.jsonl with one line per recorded episode, in `order`; returns the new positions."""
    kept = [(episode_id, lines[episode_id]) for episode_id in order if episode_id in lines]
    offsets = _rewrite_lines(path, [at for _id, at in kept], fsync=fsync)
    return {episode_id: (offset, length) for (episode_id, (_old, length)), offset in zip(kept, offsets, strict=True)}


def _rewrite_lines(path: Path, spans: list[tuple[int, int]], *, fsync: bool) -> list[int]:
    """Atomically replace `path` by its byte spans (offset, length), in the given order; returns the
    spans' offsets in the new file."""
    offsets = list(itertools.accumulate((length for _offset, length in spans), initial=0))[:-1]
    if not path.exists():
        return offsets

    def chunks() -> Iterable[bytes]:
        with path.open("rb") as fh:
            for offset, length in spans:
                fh.seek(offset)
                yield fh.read(length)

    jsonl.atomic_write_bytes(path, chunks(), fsync=fsync)
    return offsets


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err.get("loc", ())) or "<root>"
    return f"{where}: {err.get('msg', 'invalid')}" + (f" ({len(exc.errors())} errors)" if len(exc.errors()) > 1 else "")

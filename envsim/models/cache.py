"""Response cache on disk (diskcache), so reruns and resumes replay model replies exactly.

Key = canonical request (model name, messages, tools, tool choice, params, response schema; see
`ModelRequest.canonical_key`) + the episode id + an ordinal: how many times this same canonical request
was already made in this episode. Hence:
- a rerun replays each episode's calls exactly, whatever order concurrent episodes run in;
- sampled (temperature > 0) calls stay diverse across episodes (different episode ids) and across
  identical calls repeated within one episode (different ordinals).

A hit returns the stored response with `cached=True`, `usage = Usage(cache_hits=1)` (no request, no tokens;
the usage layer prices it at zero when the model has a price, and leaves it unknown otherwise) and
`saved_usage` = the original call's usage, so reports can show what the cache saved. Errors are never cached
(neither raised errors nor `finish_reason="error"` replies). Ordinal counters live in memory: call
`forget_episode` when an episode restarts or is done.

Writes are behind: `put` hands the response to a writer thread that stores what has gathered in one
SQLite transaction, every `FLUSH_INTERVAL_S`. A commit per call cost the event loop ~0.1 ms of CPU and,
at WAL checkpoints, stalls of 10 ms or more, about 5% of a busy run's throughput; readers see pending
entries at once. `close` stores everything; a killed process loses at most the last interval's
entries, which a resume then asks the model for again."""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import diskcache
from pydantic import ValidationError

from envsim.canonical import stable_hash
from envsim.errors import DataError
from envsim.models.base import ChatModel, ModelRequest, ModelResponse, ModelWrapper, Usage

log = logging.getLogger(__name__)

_FORMAT = "envsim-response-v1"  # bump when the stored shape changes: old entries become misses
FLUSH_INTERVAL_S = 0.2


@dataclass(frozen=True)
class CacheSlot:
    """Where one call's response lives in the cache."""

    key: str
    request_hash: str
    episode_id: str | None
    ordinal: int


class ResponseCache:
    """The store opens on first use, not here: SQLite connections must not cross a fork, and a run's
    parent process builds its models (and this cache) before forking workers that use their own."""

    def __init__(self, directory: str | Path, *, enabled: bool = True) -> None:
        self.directory = Path(directory)
        self.enabled = enabled
        self._opened: diskcache.Cache | None = None
        if enabled:  # fail fast on an unusable directory, without opening the database yet
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
                if not os.access(self.directory, os.W_OK | os.X_OK):
                    raise PermissionError(f"no write permission on {self.directory}")
            except OSError as exc:
                raise _unusable(self.directory, exc) from exc
        self._lock = threading.Lock()
        self._counters: dict[tuple[str | None, str], int] = {}
        self._writer: _WriteBehind | None = None
        self.hits = 0
        self.misses = 0

    def slot(self, model_name: str, request: ModelRequest) -> CacheSlot:
        """Claim the next ordinal of this request in its episode."""
        request_hash = request.canonical_key(model_name)
        episode_id = request.context.episode_id
        counter = (episode_id, request_hash)
        with self._lock:
            ordinal = self._counters.get(counter, 0)
            self._counters[counter] = ordinal + 1
        key = stable_hash([_FORMAT, request_hash, episode_id, ordinal])
        return CacheSlot(key=key, request_hash=request_hash, episode_id=episode_id, ordinal=ordinal)

    @property
    def _store(self) -> diskcache.Cache | None:
        if not self.enabled:
            return None
        with self._lock:
            if self._opened is None:
                try:
                    self._opened = diskcache.Cache(str(self.directory))
                except OSError as exc:
                    raise _unusable(self.directory, exc) from exc
            return self._opened

    def unclaim(self, slot: CacheSlot) -> None:
        """Give back the ordinal of a call that failed, so its retry takes the same slot (if it is the
        latest claim; with identical calls still in flight, the counter is left alone)."""
        counter = (slot.episode_id, slot.request_hash)
        with self._lock:
            if self._counters.get(counter) == slot.ordinal + 1:
                self._counters[counter] = slot.ordinal

    def forget_episode(self, episode_id: str | None) -> None:
        with self._lock:
            for counter in [c for c in self._counters if c[0] == episode_id]:
                del self._counters[counter]

    def get(self, slot: CacheSlot) -> ModelResponse | None:
        store = self._store
        if store is None:
            return None
        stored = self._writer.pending(slot.key) if self._writer is not None else None
        if stored is None:
            stored = store.get(slot.key)
        if stored is None:
            self.misses += 1
            return None
        try:
            original = ModelResponse.model_validate_json(stored)
        except ValidationError:  # written by an incompatible version: treat as a miss
            self.misses += 1
            return None
        self.hits += 1
        return original.model_copy(
            update={
                "cached": True,
                "usage": Usage(cache_hits=1),
                "saved_usage": original.usage,
                "call": None,
            }
        )

    def put(self, slot: CacheSlot, response: ModelResponse) -> None:
        store = self._store
        if store is None or response.finish_reason == "error":
            return
        stored = response.model_copy(update={"cached": False, "call": None, "saved_usage": None})
        if self._writer is None:
            self._writer = _WriteBehind(store, name=f"envsim-cache-writer:{self.directory}")
        self._writer.add(slot.key, stored.model_dump_json())

    def flush(self) -> None:
        """Store every pending entry now."""
        if self._writer is not None:
            self._writer.flush()

    def __len__(self) -> int:
        self.flush()
        return 0 if self._store is None else len(self._store)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.stop()
            self._writer = None
        if self._opened is not None:
            self._opened.close()
            self._opened = None


def _unusable(directory: Path, exc: OSError) -> DataError:
    return DataError(
        f"cannot open the response cache at {directory}: {exc}",
        hint="set `inference_config.cache.path` to a writable directory, or run with --no-cache",
    )


@dataclass
class _WriteBehind:
    """A thread storing queued entries into `store`, one transaction per `FLUSH_INTERVAL_S`. It ends once
    nothing is queued (and starts again with the next entry): an idle process keeps no extra thread,
    which a parent about to fork its workers needs (see `envsim.simulation.processes`)."""

    store: diskcache.Cache
    name: str
    _queued: dict[str, str] = field(default_factory=dict)
    _writing: dict[str, str] = field(default_factory=dict)  # taken by the thread, not yet committed
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _wake: threading.Event = field(default_factory=threading.Event)
    _stopping: bool = False
    _warned: bool = False
    _thread: threading.Thread | None = None

    def add(self, key: str, value: str) -> None:
        with self._lock:
            self._queued[key] = value
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()

    def pending(self, key: str) -> str | None:
        with self._lock:
            return self._queued.get(key) or self._writing.get(key)

    def flush(self) -> None:
        with self._lock:
            batch, self._queued = self._queued, {}
            self._writing.update(batch)
        try:
            if batch:
                # retry=True: worker processes of one run share the cache and take turns to write.
                with self.store.transact(retry=True):
                    for key, value in batch.items():
                        self.store.set(key, value)
        except Exception as exc:  # a full disk, a broken database: the run goes on without these entries
            if not self._warned:
                self._warned = True
                log.warning("response cache %s: could not store %d responses (%s)", self.name, len(batch), exc)
        finally:
            with self._lock:
                for key in batch:
                    self._writing.pop(key, None)

    def _run(self) -> None:
        try:
            while not self._stopping:
                self._wake.wait(FLUSH_INTERVAL_S)
                self.flush()
                with self._lock:
                    if not self._queued:
                        self._thread = None
                        return
        finally:
            self.store.close()  # this thread's SQLite connection (diskcache keeps one per thread)

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        with self._lock:
            thread = self._thread
        if thread is not None:
            thread.join()
        self.flush()


class CachingModel(ModelWrapper):
    """Serves repeated calls from a `ResponseCache`; misses go to the inner model and are stored."""

    def __init__(self, inner: ChatModel, cache: ResponseCache) -> None:
        super().__init__(inner)
        self.cache = cache

    async def generate(self, request: ModelRequest) -> ModelResponse:
        cache = self.cache
        if not cache.enabled:
            return await self.inner.generate(request)
        slot = cache.slot(self.name, request)
        hit = cache.get(slot)
        if hit is not None:
            return hit
        try:
            response = await self.inner.generate(request)
        except BaseException:
            cache.unclaim(slot)
            raise
        cache.put(slot, response)
        return response

    async def aclose(self) -> None:
        # The cache may be shared (and is closed by its owner), but what this model wrote is stored now.
        self.cache.flush()
        await super().aclose()

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
`forget_episode` when an episode restarts or is done."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import diskcache
from pydantic import ValidationError

from envsim.canonical import stable_hash
from envsim.errors import DataError
from envsim.models.base import ChatModel, ModelRequest, ModelResponse, ModelWrapper, Usage

_FORMAT = "envsim-response-v1"  # bump when the stored shape changes: old entries become misses


@dataclass(frozen=True)
class CacheSlot:
    """Where one call's response lives in the cache."""

    key: str
    request_hash: str
    episode_id: str | None
    ordinal: int


class ResponseCache:
    def __init__(self, directory: str | Path, *, enabled: bool = True) -> None:
        self.directory = Path(directory)
        self.enabled = enabled
        self._store: diskcache.Cache | None = None
        if enabled:
            try:
                self._store = diskcache.Cache(str(self.directory))
            except OSError as exc:
                raise DataError(
                    f"cannot open the response cache at {self.directory}: {exc}",
                    hint="set `inference_config.cache.path` to a writable directory, or run with --no-cache",
                ) from exc
        self._lock = threading.Lock()
        self._counters: dict[tuple[str | None, str], int] = {}
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
        if self._store is None:
            return None
        stored = self._store.get(slot.key)
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
        if self._store is None or response.finish_reason == "error":
            return
        stored = response.model_copy(update={"cached": False, "call": None, "saved_usage": None})
        self._store.set(slot.key, stored.model_dump_json())

    def __len__(self) -> int:
        return 0 if self._store is None else len(self._store)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()


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

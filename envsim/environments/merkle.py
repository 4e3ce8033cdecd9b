"""The state hash: a Merkle hash over the canonical JSON tree, updatable in O(change).

    ref(v)        = canonical JSON of v                  for null, booleans, numbers, strings
                  = "#" + digest(v)                      for objects and arrays
    entry(k, v)   = int(sha256(json(k) + ":" + ref(v)), 16)
    digest(obj)   = sha256("{" + str(len(obj)) + ":" + hex64(sum(entry(k, v) for k, v in obj) mod 2**256) + "}")
    digest(array) = sha256("[" + ",".join(ref(v) for v in array) + "]")
    state_hash    = digest(state)   (hex; a state is always an object)

An object's digest is an order-free sum of its entries' hashes, so changing one entry of an object with
16,000 entries costs two sha256 calls, not 16,000: a step's hash costs O(depth of the change). Arrays are
hashed in order over their elements' refs (O(length), like every array operation of the state engine).
docs/state.md has a self-contained reference implementation.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

MODULUS = 1 << 256
_encode_string = json.encoder.encode_basestring  # type: ignore[attr-defined]  # what canonical_json uses


def scalar_json(value: Any) -> str:
    """Canonical JSON of a scalar, exactly as `envsim.canonical.canonical_json` writes it."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return _encode_string(value)  # type: ignore[no-any-return]
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        return float.__repr__(value)
    return json.dumps(value, ensure_ascii=False)


def entry_hash(key: str, ref: str) -> int:
    """The summand of one object entry."""
    return int.from_bytes(hashlib.sha256((_encode_string(key) + ":" + ref).encode("utf-8")).digest(), "big")


def object_digest(count: int, total: int) -> str:
    return hashlib.sha256(f"{{{count}:{total:064x}}}".encode("ascii")).hexdigest()


def array_digest(refs: list[str]) -> str:
    return hashlib.sha256(("[" + ",".join(refs) + "]").encode("utf-8")).hexdigest()


class DigestCache:
    """Digests of containers that never change (a shared base state), keyed by identity.

    Holds `(digest, entry sum)` for objects and `(digest, 0)` for arrays. Valid only for containers that
    are never mutated while the cache lives; the state engine guarantees that for its base states.
    """

    def __init__(self) -> None:
        self._known: dict[int, tuple[str, int]] = {}
        self._alive: list[Any] = []  # keeps ids unique: a cached container is never freed and reused

    def __len__(self) -> int:
        return len(self._known)

    def get(self, container: Any) -> tuple[str, int] | None:
        return self._known.get(id(container))

    def put(self, container: Any, digest: str, total: int) -> None:
        if id(container) not in self._known:
            self._alive.append(container)
        self._known[id(container)] = (digest, total)


def ref_of(value: Any, cache: DigestCache | None = None) -> str:
    """`ref(value)`; containers are digested (and remembered in `cache` when given)."""
    if isinstance(value, (dict, list)):
        return "#" + digest_of(value, cache)[0]
    return scalar_json(value)


def digest_of(container: Any, cache: DigestCache | None = None) -> tuple[str, int]:
    """(digest, entry sum) of a plain object or array; arrays have sum 0.

    Objects that know their own digest (the state engine's overlay nodes) provide `merkle_digest()`.
    """
    own = getattr(container, "merkle_digest", None)
    if own is not None:
        return own(cache)  # type: ignore[no-any-return]
    if cache is not None:
        known = cache.get(container)
        if known is not None:
            return known
    if isinstance(container, dict):
        total = 0
        for key, value in container.items():
            total += entry_hash(key, ref_of(value, cache))
        total %= MODULUS
        result = (object_digest(len(container), total), total)
    else:
        result = (array_digest([ref_of(v, cache) for v in container]), 0)
    if cache is not None:
        cache.put(container, *result)
    return result


def merkle_hash(state: Any, cache: DigestCache | None = None) -> str:
    """The state hash of a JSON value (normally the state object)."""
    if isinstance(state, (dict, list)):
        return digest_of(state, cache)[0]
    return hashlib.sha256(scalar_json(state).encode("utf-8")).hexdigest()

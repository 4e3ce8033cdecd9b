"""Canonical JSON and stable hashes: the one definition every cache key and state hash uses."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace, UTF-8 kept: equal JSON values give equal strings."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def stable_hash(value: Any) -> str:
    """sha256 hex of the canonical JSON; anyone can recompute it from recorded data."""
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()

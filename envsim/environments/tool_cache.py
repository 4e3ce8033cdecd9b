"""A persistent store of synthetic tool results (`cache_by_input: true`), shared across processes.

Backed by diskcache (SQLite + files), which is safe for concurrent readers and writers in several
processes. One `Cache` handle per directory per process: every conversation's fresh environments
share it instead of opening a new SQLite connection each.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import diskcache

from envsim.canonical import stable_hash
from envsim.errors import ConfigError

DEFAULT_TOOL_CACHE_DIR = Path(".envsim_cache") / "tools"

_open: dict[Path, ToolCache] = {}
_open_lock = threading.Lock()


class ToolCache:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._handle: diskcache.Cache | None = None

    @property
    def _cache(self) -> diskcache.Cache:
        # Opened on first use: building environments must not create directories nobody needs.
        if self._handle is None:
            try:
                self._handle = diskcache.Cache(str(self.directory))
            except OSError as exc:
                raise ConfigError(
                    f"cannot open the tool cache directory {self.directory}: {exc}",
                    hint="pass a writable cache directory or disable cache_by_input",
                ) from exc
        return self._handle

    @staticmethod
    def key(environment: str, tool: str, arguments: dict[str, Any], state_hash: str | None, definition: str) -> str:
        """Cache key. `definition` fingerprints the prompt and tool contract, so editing the
        environment never serves answers produced for its old definition."""
        return stable_hash(
            {"environment": environment, "tool": tool, "arguments": arguments, "state": state_hash, "def": definition}
        )

    def get(self, key: str) -> dict[str, Any] | None:
        value = self._cache.get(key)
        return value if isinstance(value, dict) else None

    def set(self, key: str, value: dict[str, Any]) -> None:
        self._cache.set(key, value)

    def __len__(self) -> int:
        return len(self._cache)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def open_tool_cache(directory: Path | str | None = None) -> ToolCache:
    """The process-wide handle for `directory` (default `.envsim_cache/tools` under the cwd)."""
    path = Path(directory) if directory is not None else Path.cwd() / DEFAULT_TOOL_CACHE_DIR
    path = path.resolve()
    with _open_lock:
        cache = _open.get(path)
        if cache is None:
            cache = _open[path] = ToolCache(path)
        return cache

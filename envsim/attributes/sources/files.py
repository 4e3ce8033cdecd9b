"""File patterns of data and document sources: relative to the config file, globs allowed."""

from __future__ import annotations

import glob
from pathlib import Path

from envsim.errors import ConfigError


def expand_paths(pattern: str, base_dir: Path, *, location: str, file: str | None = None) -> list[Path]:
    """The files `pattern` names, sorted (so row order, and thus sampling, is stable)."""
    full = Path(pattern).expanduser()
    if not full.is_absolute():
        full = base_dir / full
    if glob.has_magic(str(full)):
        paths = sorted(Path(p) for p in glob.glob(str(full), recursive=True) if Path(p).is_file())
        if not paths:
            raise ConfigError(
                f"no file matches {pattern!r} (looked in {full.parent})",
                file=file,
                location=location,
                hint="paths are relative to the config file; check the pattern",
            )
        return paths
    if not full.is_file():
        raise ConfigError(
            f"file {pattern!r} does not exist (looked for {full})",
            file=file,
            location=location,
            hint="paths are relative to the config file",
        )
    return [full]

"""Relative paths in a config resolve against the directory of the file that names them."""

from __future__ import annotations

from pathlib import Path

from envsim.config.models import EnvironmentCatalog, SynthConfig


def resolve_path(config: SynthConfig | EnvironmentCatalog, p: str | Path) -> Path:
    """Resolve `p` (from `input_data[].path`, `output_path`, a scripted model file, ...) for `config`.

    Absolute paths and `~` are honoured; relative ones are taken from the config file's directory
    (the current directory for configs built in Python, which have no file).
    """
    path = Path(p).expanduser()
    if path.is_absolute() or not config.source_path:
        return path
    return Path(config.source_path).parent / path

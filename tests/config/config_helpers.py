"""Helpers shared by the config tests: a type for the `write` fixture (tests/config/conftest.py) and
assertions on the errors a config or catalog reports.

A uniquely named module, not conftest.py: `from conftest import ...` picks whichever conftest was imported
first when several test folders are collected together (tests/config with tests/models/real_server).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from envsim.config.loader import load_config, load_environment_catalog
from envsim.errors import ConfigError, ConfigErrors

WriteFile = Callable[..., Path]  # write("name.yaml", "yaml", ...) -> path (the `write` fixture)

MODEL = "inference_config:\n  model: {model_name: gpt-4o-mini, engine: OPENAI}\n"


def config_errors(path: Path, overrides: list[str] | None = None) -> list[ConfigError]:
    """The errors load_config reports for `path` (fails the test if it loads)."""
    with pytest.raises(ConfigErrors) as info:
        load_config(path, overrides)
    return info.value.errors


def catalog_errors(path: Path) -> list[ConfigError]:
    with pytest.raises(ConfigErrors) as info:
        load_environment_catalog(path)
    return info.value.errors


def where(errors: list[ConfigError]) -> list[tuple[str | None, str | None]]:
    """(file name, location) of each error, for exact assertions."""
    return [(Path(e.file).name if e.file else None, e.location) for e in errors]


def by_location(errors: list[ConfigError], location: str) -> ConfigError:
    matches = [e for e in errors if e.location == location]
    assert matches, f"no error at {location}; got {[(e.location, e.message) for e in errors]}"
    return matches[0]

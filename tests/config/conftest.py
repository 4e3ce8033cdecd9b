"""Helpers for config tests: write small YAML files into tmp_path and load them."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from config_helpers import WriteFile


@pytest.fixture
def write(tmp_path: Path) -> WriteFile:
    """write("name.yaml", "yaml", "more yaml") -> path; each part is dedented, so tests can indent them."""

    def _write(name: str, *parts: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        text = "".join(textwrap.dedent(part).lstrip("\n") for part in parts)
        path.write_text(text, encoding="utf-8")
        return path

    return _write

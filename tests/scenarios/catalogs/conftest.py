"""Helpers for scenario-catalog tests: small catalogs written into tmp_path over the shipped retail domain."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
RETAIL_DIR = REPO / "environments" / "retail"


@pytest.fixture
def retail_copy(tmp_path: Path) -> Path:
    """A private copy of the retail environment (so a test may change its tools)."""
    target = tmp_path / "retail"
    shutil.copytree(RETAIL_DIR, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target / "retail.yaml"

"""Optional parsers (PDF, DOCX, Parquet, XLSX) live in extras; a missing one says how to install it."""

from __future__ import annotations

import importlib
from types import ModuleType

from envsim.errors import DataError


def require(module: str, *, package: str, extra: str, needed_for: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise DataError(
            f"reading {needed_for} needs the {package!r} package, which is not installed",
            hint=f"pip install 'envsim[{extra}]'  (or: pip install {package})",
        ) from exc

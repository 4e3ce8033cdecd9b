"""Plain text and Markdown documents, read as UTF-8 (Markdown is kept as written)."""

from __future__ import annotations

from pathlib import Path

from envsim.errors import DataError


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})", hint="save it as UTF-8") from exc

"""JSON: a list of objects, or an object whose `data` key holds that list."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from envsim.errors import DataError


def read_json(path: Path) -> list[dict[str, Any]]:
    try:
        document = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}, line {exc.lineno}: not valid JSON ({exc.msg} at column {exc.colno})") from exc
    rows = document.get("data") if isinstance(document, dict) else document
    if not isinstance(rows, list):
        raise DataError(
            f'{path}: expected a list of objects or {{"data": [...]}}, got {type(document).__name__}',
            hint="wrap the rows in a JSON list, or under a top-level `data` key",
        )
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise DataError(f"{path}, row {i}: expected a JSON object, got {type(row).__name__}")
    return rows

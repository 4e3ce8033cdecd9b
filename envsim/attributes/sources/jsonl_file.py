"""JSON Lines: one JSON object per line; blank lines are skipped."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from envsim.errors import DataError


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with path.open(encoding="utf-8-sig") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(
                    f"{path}, line {line_no}: not valid JSON ({exc.msg} at column {exc.colno})",
                    hint="each line of a .jsonl file must be one JSON object",
                ) from exc
            if not isinstance(row, dict):
                raise DataError(f"{path}, line {line_no}: expected a JSON object, got {type(row).__name__}")
            rows.append(row)
    return rows

"""CSV and TSV with a header row. Cells are strings; every line must have as many cells as the header."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from envsim.errors import DataError


def read_delimited(path: Path, delimiter: str) -> list[dict[str, Any]]:
    kind = "TSV" if delimiter == "\t" else "CSV"
    rows: list[dict[str, Any]] = []
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle, delimiter=delimiter)
            header = next(reader, None)
            if not header:
                raise DataError(f"{path}: the {kind} file is empty; expected a header row")
            blank = [i + 1 for i, name in enumerate(header) if not name.strip()]
            if blank:
                raise DataError(f"{path}, line 1: header column(s) {blank} have no name")
            duplicates = sorted({n for n in header if header.count(n) > 1})
            if duplicates:
                raise DataError(f"{path}, line 1: duplicate column name(s) {duplicates}")
            for cells in reader:
                if not cells or all(not c.strip() for c in cells):
                    continue
                if len(cells) != len(header):
                    raise DataError(
                        f"{path}, line {reader.line_num}: {len(cells)} cells, but the header has {len(header)}",
                        hint=f"quote cells that contain the delimiter ({delimiter!r}) or line breaks",
                    )
                rows.append(dict(zip(header, cells, strict=True)))
    except csv.Error as exc:
        raise DataError(f"{path}: malformed {kind}: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    return rows

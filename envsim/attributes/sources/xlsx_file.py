"""Excel .xlsx via openpyxl (the `tables` extra): every sheet, concatenated in workbook order (as oumi
reads them); the first row of each sheet is its header, and an empty sheet adds nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from envsim.attributes.sources.optional import require
from envsim.attributes.sources.pool import to_json_value
from envsim.errors import DataError


def read_xlsx(path: Path) -> list[dict[str, Any]]:
    openpyxl = require("openpyxl", package="openpyxl", extra="tables", needed_for=".xlsx files")
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # zipfile / xml errors for a file that is not a workbook
        raise DataError(f"{path}: cannot read as an Excel workbook: {exc}") from exc
    try:
        rows: list[dict[str, Any]] = []
        for sheet in workbook.worksheets:
            rows.extend(_sheet_rows(path, sheet))
        return rows
    finally:
        workbook.close()


def _sheet_rows(path: Path, sheet: Any) -> list[dict[str, Any]]:
    lines = sheet.iter_rows(values_only=True)
    header = next(lines, None)
    if header is None or all(h is None for h in header):
        return []
    names = [str(h).strip() if h is not None else "" for h in header]
    while names and not names[-1]:
        names.pop()  # trailing empty header cells are formatting, not columns
    blank = [i + 1 for i, n in enumerate(names) if not n]
    if blank:
        raise DataError(f"{path}, sheet {sheet.title!r}, row 1: header column(s) {blank} have no name")
    rows: list[dict[str, Any]] = []
    for row_no, cells in enumerate(lines, start=2):
        if all(c is None for c in cells):
            continue
        extra = [c for c in cells[len(names) :] if c is not None]
        if extra:
            raise DataError(f"{path}, sheet {sheet.title!r}, row {row_no}: values beyond the header columns")
        padded = list(cells[: len(names)]) + [None] * (len(names) - len(cells))
        where = f"{path}, sheet {sheet.title!r}, row {row_no}"
        rows.append({n: to_json_value(c, f"{where}, column {n!r}") for n, c in zip(names, padded, strict=True)})
    return rows

"""Parquet via pyarrow (the `tables` extra)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from envsim.attributes.sources.optional import require
from envsim.attributes.sources.pool import to_json_value
from envsim.errors import DataError


def read_parquet(path: Path) -> list[dict[str, Any]]:
    parquet = require("pyarrow.parquet", package="pyarrow", extra="tables", needed_for=".parquet files")
    try:
        table = parquet.read_table(path)
    except Exception as exc:  # pyarrow raises several unrelated types for a bad file
        raise DataError(f"{path}: cannot read as Parquet: {exc}") from exc
    return [
        {str(k): to_json_value(v, f"{path}, row {i + 1}, column {k!r}") for k, v in row.items()}
        for i, row in enumerate(table.to_pylist())
    ]

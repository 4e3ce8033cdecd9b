"""`input_data`: rows from JSONL, JSON, CSV, TSV, Parquet or XLSX files (a path or a glob), or from a
Hugging Face dataset (`hf:<name>`, see hf_dataset.py).

With `attribute_map` (column -> attribute id), only the mapped columns are kept, renamed; every
mapped column must exist in every file. Without it, every column becomes an attribute of that name.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from envsim.attributes.sources.delimited_file import read_delimited
from envsim.attributes.sources.files import expand_paths
from envsim.attributes.sources.hf_dataset import is_hf_path, read_hf_rows
from envsim.attributes.sources.json_file import read_json
from envsim.attributes.sources.jsonl_file import read_jsonl
from envsim.attributes.sources.parquet_file import read_parquet
from envsim.attributes.sources.pool import SourcePool
from envsim.attributes.sources.xlsx_file import read_xlsx
from envsim.config.models import DatasetSource
from envsim.errors import DataError

RowReader = Callable[[Path], list[dict[str, Any]]]

READERS: dict[str, RowReader] = {
    ".jsonl": read_jsonl,
    ".json": read_json,
    ".csv": lambda p: read_delimited(p, ","),
    ".tsv": lambda p: read_delimited(p, "\t"),
    ".parquet": read_parquet,
    ".xlsx": read_xlsx,
}


def read_rows(path: Path) -> list[dict[str, Any]]:
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise DataError(
            f"{path}: unsupported data file type {path.suffix or '(no extension)'!r}",
            hint=f"use one of {', '.join(READERS)} (or input_documents for text documents)",
        )
    return reader(path)


def _apply_map(rows: list[dict[str, Any]], mapping: dict[str, str], path: Path) -> list[dict[str, Any]]:
    for row_no, row in enumerate(rows, start=1):
        missing = [c for c in mapping if c not in row]
        if missing:
            raise DataError(
                f"{path}, row {row_no}: attribute_map names column(s) {missing}, which the row does not have",
                hint=f"columns of this row: {', '.join(map(str, row)) or '(none)'}",
            )
    return [{attr: row[column] for column, attr in mapping.items()} for row in rows]


def load_dataset(source: DatasetSource, base_dir: Path, *, location: str, file: str | None) -> SourcePool:
    rows: list[dict[str, Any]] = []
    if is_hf_path(source.path):
        rows = read_hf_rows(source, base_dir, location=location)
        if source.attribute_map:
            rows = _apply_map(rows, source.attribute_map, Path(source.path))
        read = 1
    else:
        paths = expand_paths(source.path, base_dir, location=f"{location}.path", file=file)
        for path in paths:
            file_rows = read_rows(path)
            if source.attribute_map:
                file_rows = _apply_map(file_rows, source.attribute_map, path)
            rows.extend(file_rows)
        read = len(paths)
    if not rows:
        raise DataError(f"{location}: {source.path!r} holds no rows ({read} file(s) read)")
    return SourcePool(id=source.id, location=location, origin=source.path, rows=rows, num_shots=source.num_shots)

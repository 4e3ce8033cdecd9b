"""Word .docx documents via python-docx (the `documents` extra): paragraphs, then table rows."""

from __future__ import annotations

from pathlib import Path

from envsim.attributes.sources.optional import require
from envsim.errors import DataError


def read_docx(path: Path) -> str:
    docx = require("docx", package="python-docx", extra="documents", needed_for=".docx files")
    try:
        document = docx.Document(str(path))
    except Exception as exc:  # a zip/xml error for a file that is not a .docx
        raise DataError(f"{path}: cannot read as a Word .docx document: {exc}") from exc
    lines = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            lines.append(" | ".join(cell.text for cell in row.cells))
    return "\n".join(lines).strip()

"""PDF documents via pypdf (the `documents` extra): page texts joined by blank lines."""

from __future__ import annotations

from pathlib import Path

from envsim.attributes.sources.optional import require
from envsim.errors import DataError


def read_pdf(path: Path) -> str:
    pypdf = require("pypdf", package="pypdf", extra="documents", needed_for=".pdf files")
    try:
        reader = pypdf.PdfReader(path)
        if reader.is_encrypted:
            raise DataError(f"{path}: the PDF is encrypted", hint="decrypt it first (e.g. qpdf --decrypt)")
        pages = [page.extract_text() or "" for page in reader.pages]
    except DataError:
        raise
    except Exception as exc:  # pypdf raises many kinds of errors for a damaged file
        raise DataError(f"{path}: cannot read as PDF: {exc}") from exc
    return "\n\n".join(p.strip() for p in pages if p.strip())

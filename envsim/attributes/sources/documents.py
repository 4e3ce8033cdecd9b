"""`input_documents`: text from .txt, .md, .html, .pdf and .docx files (a path or a glob).

Without `segmentation_params`, each document is one row `{<source id>: text}`. With it, each segment
is a row `{<segmentation id>: segment}`, plus `{<source id>: full text}` when `keep_original_text`.
Segments are `segment_length` characters, or tokens with `segmentation_strategy: TOKENS` (oumi's).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from envsim.attributes.sources.docx_file import read_docx
from envsim.attributes.sources.files import expand_paths
from envsim.attributes.sources.html_file import read_html
from envsim.attributes.sources.pdf_file import read_pdf
from envsim.attributes.sources.pool import SourcePool
from envsim.attributes.sources.segmentation import segment
from envsim.attributes.sources.text_file import read_text
from envsim.attributes.sources.tokenizer import OUMI_DEFAULT_TOKENIZER, load_tokenizer, segment_tokens
from envsim.config.models import DocumentSource, SegmentationParams, SegmentationStrategy
from envsim.errors import DataError

DocumentReader = Callable[[Path], str]

READERS: dict[str, DocumentReader] = {
    ".txt": read_text,
    ".md": read_text,
    ".markdown": read_text,
    ".html": read_html,
    ".htm": read_html,
    ".pdf": read_pdf,
    ".docx": read_docx,
}


def read_document(path: Path) -> str:
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise DataError(
            f"{path}: unsupported document type {path.suffix or '(no extension)'!r}",
            hint=f"use one of {', '.join(READERS)} (or input_data for tables)",
        )
    return reader(path)


def document_fields(source: DocumentSource) -> list[str]:
    params = source.segmentation_params
    if params is None:
        return [source.id]
    return [params.id, source.id] if params.keep_original_text and params.id != source.id else [params.id]


def load_documents(source: DocumentSource, base_dir: Path, *, location: str, file: str | None) -> SourcePool:
    paths = expand_paths(source.path, base_dir, location=f"{location}.path", file=file)
    params = source.segmentation_params
    rows: list[dict[str, Any]] = []
    for path in paths:
        text = read_document(path)
        if not text.strip():
            continue  # an empty page or file adds nothing to sample from
        if params is None:
            rows.append({source.id: text})
            continue
        for piece in _segments(text, params, base_dir):
            row = {source.id: text} if params.keep_original_text else {}
            row[params.id] = piece
            rows.append(row)
    if not rows:
        raise DataError(
            f"{location}: the documents matching {source.path!r} contain no text ({len(paths)} file(s) read)",
            hint="scanned PDFs have no text layer; run OCR first",
        )
    return SourcePool(id=source.id, location=location, origin=source.path, rows=rows, num_shots=source.num_shots)


def _segments(text: str, params: SegmentationParams, base_dir: Path) -> list[str]:
    if params.segmentation_strategy is SegmentationStrategy.TOKENS:
        tokenizer = load_tokenizer(params.tokenizer or OUMI_DEFAULT_TOKENIZER, base_dir.resolve())
        return segment_tokens(text, tokenizer, params.segment_length, params.segment_overlap)
    return segment(text, params.segment_length, params.segment_overlap)

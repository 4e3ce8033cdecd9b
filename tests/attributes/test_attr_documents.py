"""Document sources: txt, md, html, pdf, docx; segmentation with overlap; keep_original_text."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from envsim.attributes.sources import load_sources
from envsim.attributes.sources.segmentation import segment
from envsim.config.models import StrategyParams
from envsim.errors import ConfigError, DataError


def load(tmp_path: Path, **source: Any) -> Any:
    params = StrategyParams.model_validate({"input_documents": [{"id": "doc", **source}]})
    [pool] = load_sources(params, tmp_path, file=str(tmp_path / "config.yaml"))
    return pool


def test_txt_and_md(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("Plain policy text.", encoding="utf-8")
    (tmp_path / "b.md").write_text("# Title\n\n*Refunds* take 30 days.", encoding="utf-8")
    pool = load(tmp_path, path="*")
    assert pool.rows == [{"doc": "Plain policy text."}, {"doc": "# Title\n\n*Refunds* take 30 days."}]


def test_html_visible_text_only(tmp_path: Path) -> None:
    html = (
        "<html><head><title>T</title><style>p {color: red}</style></head>"
        "<body><h1>Returns</h1><p>Send it back &amp; get paid.</p><script>alert(1)</script>"
        "<ul><li>one</li><li>two</li></ul></body></html>"
    )
    (tmp_path / "page.html").write_text(html, encoding="utf-8")
    text = load(tmp_path, path="page.html").rows[0]["doc"]
    assert "Returns" in text and "Send it back & get paid." in text
    assert "one\n" in text and "two" in text
    assert "alert" not in text and "color" not in text and "<" not in text


def test_pdf(tmp_path: Path, make_pdf: Callable[[str], bytes]) -> None:
    (tmp_path / "policy.pdf").write_bytes(make_pdf("Refunds take thirty days"))
    assert load(tmp_path, path="policy.pdf").rows == [{"doc": "Refunds take thirty days"}]


def test_docx(tmp_path: Path) -> None:
    import docx

    document = docx.Document()
    document.add_paragraph("First paragraph.")
    document.add_paragraph("Second paragraph.")
    table = document.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text = "plan"
    table.rows[0].cells[1].text = "gold"
    document.save(str(tmp_path / "guide.docx"))
    text = load(tmp_path, path="guide.docx").rows[0]["doc"]
    assert text == "First paragraph.\nSecond paragraph.\nplan | gold"


def test_damaged_pdf_and_docx_are_data_errors(tmp_path: Path) -> None:
    (tmp_path / "bad.pdf").write_bytes(b"not a pdf")
    with pytest.raises(DataError, match=r"bad\.pdf: cannot read as PDF"):
        load(tmp_path, path="bad.pdf")
    (tmp_path / "bad.docx").write_bytes(b"not a docx")
    with pytest.raises(DataError, match=r"bad\.docx: cannot read as a Word"):
        load(tmp_path, path="bad.docx")


def test_missing_document_parser_gives_install_hint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "x.docx").write_bytes(b"")
    monkeypatch.setitem(sys.modules, "docx", None)
    with pytest.raises(DataError) as info:
        load(tmp_path, path="x.docx")
    assert "pip install 'envsim[documents]'" in str(info.value) and "python-docx" in str(info.value)


def test_segment_overlap() -> None:
    assert segment("abcdefghij", 4, 1) == ["abcd", "defg", "ghij"]
    assert segment("abcdefghijk", 4, 0) == ["abcd", "efgh", "ijk"]
    assert segment("abc", 10, 5) == ["abc"]
    assert segment("", 4, 1) == []
    pieces = segment("x" * 1000, 100, 30)
    assert all(len(p) == 100 for p in pieces[:-1])
    assert "".join(p[30:] if i else p for i, p in enumerate(pieces)) == "x" * 1000  # overlap only repeats


def test_segmentation_rows_and_keep_original(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("abcdefghij", encoding="utf-8")
    seg = {"id": "chunk", "segment_length": 4, "segment_overlap": 1}
    assert load(tmp_path, path="a.txt", segmentation_params=seg).rows == [
        {"chunk": "abcd"},
        {"chunk": "defg"},
        {"chunk": "ghij"},
    ]
    kept = load(tmp_path, path="a.txt", segmentation_params={**seg, "keep_original_text": True}).rows
    assert kept[1] == {"doc": "abcdefghij", "chunk": "defg"}


def test_overlap_must_be_smaller_than_length(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("abc", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load(tmp_path, path="a.txt", segmentation_params={"id": "c", "segment_length": 4, "segment_overlap": 4})
    assert info.value.location == "strategy_params.input_documents[0].segmentation_params.segment_overlap"


def test_documents_as_few_shot_pool(tmp_path: Path) -> None:
    for i in range(4):
        (tmp_path / f"{i}.txt").write_text(f"doc {i}", encoding="utf-8")
    pool = load(tmp_path, path="*.txt", num_shots=2)
    shots = pool.pick(0, 0)["doc"]
    assert len(shots) == 2 and all(s["doc"].startswith("doc ") for s in shots)


def test_unsupported_and_empty_documents(tmp_path: Path) -> None:
    (tmp_path / "a.rtf").write_text("x", encoding="utf-8")
    with pytest.raises(DataError, match="unsupported document type"):
        load(tmp_path, path="a.rtf")
    (tmp_path / "blank.txt").write_text("  \n", encoding="utf-8")
    with pytest.raises(DataError, match="contain no text"):
        load(tmp_path, path="blank.txt")
    (tmp_path / "latin.txt").write_bytes("café".encode("latin-1"))
    with pytest.raises(DataError, match="not UTF-8"):
        load(tmp_path, path="latin.txt")

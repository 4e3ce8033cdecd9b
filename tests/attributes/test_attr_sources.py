"""Data sources: every table format, globs, attribute_map, round-robin vs few-shot, bad files."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from envsim.attributes.sources import load_sources
from envsim.config.models import StrategyParams
from envsim.errors import ConfigError, DataError

ROWS = [{"q": "Where is my order?", "a": "Shipped."}, {"q": "Refund?", "a": "Within 30 days."}]


def load(tmp_path: Path, **params: Any) -> Any:
    return load_sources(StrategyParams.model_validate(params), tmp_path, file=str(tmp_path / "config.yaml"))


def write_table(path: Path, rows: list[dict[str, Any]]) -> Path:
    kind = path.suffix
    if kind == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    elif kind == ".json":
        path.write_text(json.dumps(rows), encoding="utf-8")
    elif kind in (".csv", ".tsv"):
        sep = "," if kind == ".csv" else "\t"
        lines = [sep.join(rows[0])] + [sep.join(str(v) for v in r.values()) for r in rows]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    elif kind == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), path)
    elif kind == ".xlsx":
        import openpyxl

        book = openpyxl.Workbook()
        sheet = book.active
        sheet.append(list(rows[0]))
        for row in rows:
            sheet.append(list(row.values()))
        book.save(path)
    return path


@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".csv", ".tsv", ".parquet", ".xlsx"])
def test_each_table_format_reads_rows(tmp_path: Path, suffix: str) -> None:
    write_table(tmp_path / f"faq{suffix}", ROWS)
    [pool] = load(tmp_path, input_data=[{"path": f"faq{suffix}"}])
    assert pool.rows == ROWS
    assert pool.pick(0, 0) == ROWS[0]
    assert pool.pick(3, 0) == ROWS[1]  # round-robin: index mod rows


def test_json_with_data_key(tmp_path: Path) -> None:
    (tmp_path / "faq.json").write_text(json.dumps({"data": ROWS}), encoding="utf-8")
    [pool] = load(tmp_path, input_data=[{"path": "faq.json"}])
    assert pool.rows == ROWS


def test_parquet_and_xlsx_values_become_json(tmp_path: Path) -> None:
    import datetime as dt

    rows = [{"when": dt.date(2024, 5, 1), "n": 1.5}]
    for suffix in (".parquet", ".xlsx"):
        write_table(tmp_path / f"t{suffix}", rows)
        [pool] = load(tmp_path, input_data=[{"path": f"t{suffix}"}])
        assert pool.rows[0]["when"].startswith("2024-05-01")
        json.dumps(pool.rows)


def test_glob_reads_files_in_sorted_order(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    write_table(tmp_path / "data" / "b.jsonl", [{"q": "b"}])
    write_table(tmp_path / "data" / "a.csv", [{"q": "a"}])
    [pool] = load(tmp_path, input_data=[{"path": "data/*.*"}])
    assert [r["q"] for r in pool.rows] == ["a", "b"]


def test_attribute_map_renames_and_keeps_only_mapped_columns(tmp_path: Path) -> None:
    write_table(tmp_path / "faq.csv", ROWS)
    [pool] = load(tmp_path, input_data=[{"path": "faq.csv", "attribute_map": {"q": "question"}}])
    assert pool.rows == [{"question": "Where is my order?"}, {"question": "Refund?"}]


def test_attribute_map_with_missing_column_names_file_and_row(tmp_path: Path) -> None:
    write_table(tmp_path / "faq.jsonl", [{"q": "x"}, {"other": "y"}])
    with pytest.raises(DataError, match=r"faq\.jsonl, row 2: attribute_map names column\(s\) \['q'\]"):
        load(tmp_path, input_data=[{"path": "faq.jsonl", "attribute_map": {"q": "question"}}])


def test_inline_examples_round_robin_and_few_shot(tmp_path: Path) -> None:
    rows = [{"q": str(i)} for i in range(6)]
    round_robin, few = load(
        tmp_path, input_examples=[{"examples": rows}, {"id": "shots", "examples": rows, "num_shots": 3}]
    )
    assert [round_robin.pick(i, 1)["q"] for i in range(8)] == ["0", "1", "2", "3", "4", "5", "0", "1"]
    picked = few.pick(4, 1)["shots"]
    assert len(picked) == 3 and len({r["q"] for r in picked}) == 3  # distinct rows
    assert few.pick(4, 1) == few.pick(4, 1)  # seeded
    assert any(few.pick(i, 1) != few.pick(4, 1) for i in range(10))  # varies per sample


def test_few_shot_needs_an_id_and_enough_rows(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no id"):
        load(tmp_path, input_examples=[{"examples": [{"q": 1}, {"q": 2}], "num_shots": 2}])
    with pytest.raises(DataError, match="only 2 row"):
        load(tmp_path, input_examples=[{"id": "x", "examples": [{"q": 1}, {"q": 2}], "num_shots": 3}])


def test_bad_jsonl_line_is_named(tmp_path: Path) -> None:
    (tmp_path / "bad.jsonl").write_text('{"q": 1}\n\n{"q": \n', encoding="utf-8")
    with pytest.raises(DataError, match=r"bad\.jsonl, line 3: not valid JSON"):
        load(tmp_path, input_data=[{"path": "bad.jsonl"}])
    (tmp_path / "list.jsonl").write_text("[1, 2]\n", encoding="utf-8")
    with pytest.raises(DataError, match="line 1: expected a JSON object"):
        load(tmp_path, input_data=[{"path": "list.jsonl"}])


def test_bad_csv_line_is_named(tmp_path: Path) -> None:
    (tmp_path / "bad.csv").write_text("q,a\nx,y\nonly-one\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"bad\.csv, line 3: 1 cells, but the header has 2"):
        load(tmp_path, input_data=[{"path": "bad.csv"}])


def test_bad_json_shape_and_row(tmp_path: Path) -> None:
    (tmp_path / "obj.json").write_text('{"rows": []}', encoding="utf-8")
    with pytest.raises(DataError, match="expected a list of objects"):
        load(tmp_path, input_data=[{"path": "obj.json"}])
    (tmp_path / "mixed.json").write_text('[{"q": 1}, 5]', encoding="utf-8")
    with pytest.raises(DataError, match="row 1: expected a JSON object"):
        load(tmp_path, input_data=[{"path": "mixed.json"}])


def test_not_a_workbook_or_parquet(tmp_path: Path) -> None:
    (tmp_path / "fake.xlsx").write_text("hello", encoding="utf-8")
    with pytest.raises(DataError, match="cannot read as an Excel workbook"):
        load(tmp_path, input_data=[{"path": "fake.xlsx"}])
    (tmp_path / "fake.parquet").write_text("hello", encoding="utf-8")
    with pytest.raises(DataError, match="cannot read as Parquet"):
        load(tmp_path, input_data=[{"path": "fake.parquet"}])


def test_missing_file_glob_and_unsupported_type(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, input_data=[{"path": "nope.csv"}])
    assert info.value.location == "strategy_params.input_data[0].path"
    with pytest.raises(ConfigError, match="no file matches"):
        load(tmp_path, input_data=[{"path": "data/*.csv"}])
    (tmp_path / "x.yaml").write_text("a: 1", encoding="utf-8")
    with pytest.raises(DataError, match=r"unsupported data file type '\.yaml'"):
        load(tmp_path, input_data=[{"path": "x.yaml"}])


def test_empty_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "empty.jsonl").write_text("\n", encoding="utf-8")
    with pytest.raises(DataError, match="holds no rows"):
        load(tmp_path, input_data=[{"path": "empty.jsonl"}])


def test_missing_optional_parser_gives_install_hint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "t.parquet").write_bytes(b"PAR1")
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)  # makes `import pyarrow.parquet` fail
    with pytest.raises(DataError) as info:
        load(tmp_path, input_data=[{"path": "t.parquet"}])
    assert "pip install 'envsim[tables]'" in str(info.value)
    assert "pyarrow" in str(info.value)

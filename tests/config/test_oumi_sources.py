"""oumi's input sources: `hf:` datasets (offline: a save_to_disk directory; an unreachable hub is one
clear message), TOKENS segmentation with a named tokenizer, XLSX with every sheet."""

from __future__ import annotations

from pathlib import Path

import pytest

from envsim.attributes.sources.datasets import load_dataset
from envsim.attributes.sources.documents import load_documents
from envsim.attributes.sources.xlsx_file import read_xlsx
from envsim.config.models import DatasetSource, DocumentSource
from envsim.errors import DataError

datasets = pytest.importorskip("datasets", reason="hf: sources need the datasets package")


def save_splits(directory: Path) -> Path:
    data = datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_list(
                [{"question": "q1", "answer": "a1"}, {"question": "q2", "answer": "a2"}]
            ),
            "test": datasets.Dataset.from_list([{"question": "t1", "answer": "x"}]),
        }
    )
    data.save_to_disk(str(directory / "qa"))
    return directory


def test_hf_dataset_saved_to_disk_honours_the_split_and_attribute_map(tmp_path: Path) -> None:
    base = save_splits(tmp_path)
    source = DatasetSource(path="hf:qa", hf_split="test", attribute_map={"question": "prompt"})
    pool = load_dataset(source, base, location="strategy_params.input_data[0]", file=None)
    assert pool.rows == [{"prompt": "t1"}]


def test_several_splits_need_hf_split(tmp_path: Path) -> None:
    base = save_splits(tmp_path)
    with pytest.raises(DataError, match=r"several splits \(train, test\)") as info:
        load_dataset(DatasetSource(path="hf:qa"), base, location="strategy_params.input_data[0]", file=None)
    assert info.value.hint == "set hf_split: train (for example)"


def test_an_unreachable_hub_is_one_clear_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))  # an empty cache
    source = DatasetSource(path="hf:nobody/not-cached", hf_split="train")
    with pytest.raises(DataError) as info:
        load_dataset(source, tmp_path, location="strategy_params.input_data[0]", file=None)
    assert "cannot load Hugging Face dataset 'nobody/not-cached'" in info.value.message
    assert "not in the local datasets cache" in info.value.message
    assert "save_to_disk" in (info.value.hint or "")


def word_tokenizer(path: Path) -> Path:
    tokenizers = pytest.importorskip("tokenizers", reason="TOKENS segmentation needs the tokenizers package")
    words = ["the", "cat", "sat", "on", "a", "mat", "and", "then", "it", "slept"]
    model = tokenizers.models.WordLevel({w: i for i, w in enumerate(["[UNK]", *words])}, unk_token="[UNK]")
    tokenizer = tokenizers.Tokenizer(model)
    tokenizer.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    tokenizer.decoder = tokenizers.decoders.WordPiece()  # joins words with spaces
    tokenizer.save(str(path))
    return path


def test_tokens_segmentation_cuts_windows_of_tokens(tmp_path: Path) -> None:
    word_tokenizer(tmp_path / "tok.json")
    (tmp_path / "story.txt").write_text("the cat sat on a mat and then it slept", encoding="utf-8")
    source = DocumentSource.model_validate(
        {
            "id": "story",
            "path": "story.txt",
            "segmentation_params": {
                "id": "chunk",
                "segmentation_strategy": "tokens",  # oumi writes the enum either way
                "tokenizer": "tok.json",
                "segment_length": 4,
                "segment_overlap": 1,
            },
        }
    )
    pool = load_documents(source, tmp_path, location="strategy_params.input_documents[0]", file=None)
    assert [row["chunk"] for row in pool.rows] == ["the cat sat on", "on a mat and", "and then it slept", "slept"]


def test_a_tokenizer_that_cannot_be_loaded_offline_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("tokenizers", reason="TOKENS segmentation needs the tokenizers package")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    (tmp_path / "doc.txt").write_text("text", encoding="utf-8")
    source = DocumentSource.model_validate(
        {
            "id": "doc",
            "path": "doc.txt",
            "segmentation_params": {"id": "c", "segmentation_strategy": "TOKENS", "tokenizer": "someone/absent"},
        }
    )
    with pytest.raises(DataError, match="tokenizer 'someone/absent' cannot be loaded") as info:
        load_documents(source, tmp_path, location="strategy_params.input_documents[0]", file=None)
    assert "tokenizer.json" in (info.value.hint or "")


def test_xlsx_reads_every_sheet(tmp_path: Path) -> None:
    openpyxl = pytest.importorskip("openpyxl", reason="xlsx needs openpyxl")
    workbook = openpyxl.Workbook()
    first = workbook.active
    first.append(["q", "a"])
    first.append(["q1", "a1"])
    workbook.create_sheet("empty")
    second = workbook.create_sheet("more")
    second.append(["q", "a"])
    second.append(["q2", "a2"])
    workbook.save(tmp_path / "qa.xlsx")
    assert read_xlsx(tmp_path / "qa.xlsx") == [{"q": "q1", "a": "a1"}, {"q": "q2", "a": "a2"}]

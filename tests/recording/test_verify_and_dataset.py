"""verify_trace catches tampering; the dataset file has the seed's shape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from envsim.errors import DataError
from envsim.recording import verify_trace, write_dataset

from .factories import make_trace


def test_consistent_trace_verifies() -> None:
    assert verify_trace(make_trace()) == []
    assert verify_trace(make_trace(tool_error="recovered")) == []


def test_tampered_patch_is_caught() -> None:
    trace = make_trace()
    trace.steps[1].patch[0]["value"] = "refunded"
    problems = verify_trace(trace)
    assert any("state_hash" in p and "cancel_order" in p for p in problems)
    assert any("initial state + recorded patches != final state" in p for p in problems)


def test_missing_patch_and_unappliable_patch_are_caught() -> None:
    dropped = make_trace()
    dropped.steps[1].patch = []
    assert any("!= final state" in p for p in verify_trace(dropped))

    bad = make_trace()
    bad.steps[1].patch = [{"op": "replace", "path": "/orders/ZZ/status", "value": "x"}]
    assert any("does not apply" in p for p in verify_trace(bad))


def test_error_step_with_patch_is_caught() -> None:
    trace = make_trace()
    trace.steps[1].error = "boom"
    assert any("failed with an error but recorded a state patch" in p for p in verify_trace(trace))


def test_dataset_file_shape(tmp_path: Path) -> None:
    traces = [make_trace("ep-1"), make_trace("ep-2", sample_index=1, failed=True)]
    report = write_dataset(traces, tmp_path / "out" / "data.jsonl", passthrough=None)
    assert (report.written, report.skipped_failed) == (1, 1)
    (row,) = [json.loads(x) for x in (tmp_path / "out" / "data.jsonl").read_text().splitlines()]
    assert row["customer_type"] == "busy"
    assert json.loads(row["support_chat_plan"]) == {  # a string, as oumi writes it
        "num_turns": 2,
        "turns": [{"turn": 1, "instruction": "ask"}, {"turn": 2, "instruction": "cancel"}],
        "notes": None,
    }
    messages = row["support_chat"]["messages"]
    assert messages[0] == {"role": "system", "content": "You are a helpful support agent."}
    assert isinstance(messages[2]["tool_calls"][0]["function"]["arguments"], str)
    assert row["support_chat"]["tools"][0]["function"]["name"] == "get_order"


def test_dataset_passthrough_keeps_exactly_named_keys(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    report = write_dataset([make_trace()], path, passthrough=["support_chat", "issue", "typo_attr"])
    row = json.loads(path.read_text())
    assert list(row) == ["support_chat", "issue"]
    assert report.unknown_passthrough == ["typo_attr"]


def test_unwritable_dataset_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="cannot write the dataset file"):
        write_dataset([make_trace()], tmp_path, passthrough=None)  # a directory, not a file

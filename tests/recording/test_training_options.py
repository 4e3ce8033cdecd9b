"""What each training option does to the written conversation: error turns, recovery, --only-passing,
split parallel calls, reasoning, call ids; and the one notion of a clean episode shared by every writer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from envsim.errors import EnvsimError
from envsim.messages import ToolCall
from envsim.recording import clean_problem, clean_traces, write_dataset
from envsim.recording.exporters import EXPORT_FORMATS, ExportOptions, export_traces
from envsim.recording.trace import CheckResult, Trace

from .factories import make_trace


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def export_one(tmp_path: Path, trace: Trace, fmt: str, **options: Any) -> dict[str, Any]:
    report = export_traces([trace], tmp_path / f"{fmt}.jsonl", fmt, ExportOptions(**options))
    assert report.written == 1, report.skipped
    return read_jsonl(tmp_path / f"{fmt}.jsonl")[0]


def with_infrastructure_error(trace: Trace) -> Trace:
    step = trace.steps[1]
    step.error, step.error_kind, step.output = (
        ("the simulated tool 'cancel_order' gave no valid reply in 3 attempt(s); last problem: not JSON"),
        "infrastructure",
        None,
    )
    return trace


def with_parallel_calls(trace: Trace) -> Trace:
    first = ToolCall.make("get_order", {"order_id": "A1"}, id="p1")
    second = ToolCall.make("get_order", {"order_id": "B2"}, id="p2")
    trace.messages[2] = trace.messages[2].model_copy(update={"tool_calls": [first, second], "content": "Checking."})
    tool_message = trace.messages[3]
    trace.messages[3:4] = [
        tool_message.model_copy(update={"tool_call_id": "p1", "content": '{"order": "A1"}'}),
        tool_message.model_copy(update={"tool_call_id": "p2", "content": '{"order": "B2"}'}),
    ]
    trace.steps[0] = trace.steps[0].model_copy(update={"call_id": "p1"})
    trace.steps.insert(1, trace.steps[0].model_copy(update={"call_id": "p2"}))
    return trace


# --------------------------------------------------------------------------- clean episodes


def test_an_infrastructure_error_keeps_the_episode_out_of_the_dataset_file_and_every_export(tmp_path: Path) -> None:
    traces = [make_trace("ok"), with_infrastructure_error(make_trace("infra", sample_index=1))]
    dataset = write_dataset(traces, tmp_path / "data.jsonl")
    assert (dataset.written, dataset.skipped_infrastructure) == (1, ["infra"])
    assert "gave no valid reply" not in (tmp_path / "data.jsonl").read_text()
    for fmt in EXPORT_FORMATS:
        # No option lets it through: not even the ones that keep failed or erroring episodes.
        everything = ExportOptions(include_failed=True, include_tool_errors=True, error_turns="keep")
        report = export_traces(traces, tmp_path / f"{fmt}.jsonl", fmt, everything)
        assert (report.written, report.skipped, report.infrastructure_error_episodes) == (
            1,
            {"infrastructure_error": 1},
            ["infra"],
        ), fmt


def test_clean_traces_is_the_same_rule_for_python_users() -> None:
    traces = [make_trace("ok"), with_infrastructure_error(make_trace("infra")), make_trace("failed", failed=True)]
    assert [t.episode_id for t in clean_traces(traces)] == ["ok"]
    assert [clean_problem(t) for t in traces] == [None, "infrastructure_error", "failed"]


def test_traces_recorded_before_error_kind_are_judged_by_envsim_s_own_wording(tmp_path: Path) -> None:
    legacy = with_infrastructure_error(make_trace("legacy"))
    legacy.steps[1].error_kind = None
    assert export_traces([legacy], tmp_path / "o.jsonl", "openai").skipped == {"infrastructure_error": 1}


def test_the_dataset_file_writes_null_content_on_tool_call_messages(tmp_path: Path) -> None:
    write_dataset([make_trace()], tmp_path / "data.jsonl")
    (row,) = read_jsonl(tmp_path / "data.jsonl")
    messages = row["support_chat"]["messages"]
    assert messages[2] == {"role": "assistant", "content": None, "tool_calls": messages[2]["tool_calls"]}
    assert all("role" in m and "content" in m for m in messages)  # what oumi's loader looks for


# --------------------------------------------------------------------------- error turns


def test_weight0_keeps_the_failed_call_as_context_and_trains_the_recovery(tmp_path: Path) -> None:
    trace = make_trace(tool_error="recovered")
    row = export_one(tmp_path, trace, "openai")
    assistants = [m for m in row["messages"] if m["role"] == "assistant"]
    assert assistants[0]["tool_calls"][0]["id"] == trace.steps[0].call_id and assistants[0]["weight"] == 0
    assert assistants[1]["tool_calls"][0]["function"]["arguments"] == '{"order_id": "A1"}'
    assert all("weight" not in m for m in assistants[1:])  # trained (OpenAI's default weight is 1)


@pytest.mark.parametrize("fmt", ["hf", "sharegpt", "llamafactory", "oumi", "openai"])
def test_drop_removes_a_failed_call_that_a_retry_replaced(tmp_path: Path, fmt: str) -> None:
    trace = make_trace(tool_error="recovered")
    row = export_one(tmp_path, trace, fmt, error_turns="drop")
    text = json.dumps(row)
    assert trace.steps[0].error not in text and '"order": "A1"' not in text
    assert text.count("get_order") >= 1  # the successful retry is still there
    report = export_traces([trace], tmp_path / "again.jsonl", fmt, ExportOptions(error_turns="drop"))
    assert report.kept_with_tool_errors == 0  # nothing left to show
    clean = export_one(tmp_path, make_trace(), fmt, error_turns="drop")
    assert json.dumps(clean).replace("ep-0000-c0", "") == text.replace("ep-0000-c0", "")


def test_drop_moves_text_said_beside_a_removed_call_to_the_next_assistant_message(tmp_path: Path) -> None:
    trace = make_trace(tool_error="recovered")
    trace.messages[2] = trace.messages[2].model_copy(update={"content": "Let me look."})
    row = export_one(tmp_path, trace, "hf", error_turns="drop")
    assert [m["role"] for m in row["messages"][:4]] == ["system", "user", "assistant", "tool"]
    assert row["messages"][2]["content"] == "Let me look." and row["messages"][2]["tool_calls"]


def test_drop_leaves_out_an_episode_it_cannot_keep_coherent(tmp_path: Path) -> None:
    unrecovered = make_trace(tool_error="unrecovered")  # no retry: the answer that follows needs the error
    options = ExportOptions(include_tool_errors=True)
    report = export_traces([unrecovered], tmp_path / "h.jsonl", "hf", options)
    assert report.skipped == {"error_turn_not_droppable": 1}
    kept = export_traces(
        [unrecovered], tmp_path / "k.jsonl", "hf", ExportOptions(include_tool_errors=True, error_turns="keep")
    )
    assert kept.written == 1 and unrecovered.steps[0].error in (tmp_path / "k.jsonl").read_text()


def test_weight0_needs_a_format_with_weights_and_defaults_follow_the_format() -> None:
    assert {name: f.default_error_turns for name, f in EXPORT_FORMATS.items()} == {
        "openai": "weight0",
        "hf": "drop",
        "sharegpt": "drop",
        "llamafactory": "drop",
        "oumi": "drop",
    }
    with pytest.raises(EnvsimError, match="weight0 needs per-message weights"):
        export_traces([make_trace()], "/dev/null", "hf", ExportOptions(error_turns="weight0"))


# --------------------------------------------------------------------------- recovery and passing


def test_an_error_handled_as_the_expectations_require_is_never_unrecovered(tmp_path: Path) -> None:
    handled = make_trace("handled", tool_error="unrecovered")
    handled.checks = [CheckResult(kind="state_equals", passed=True, reason="ok")]
    failing = make_trace("failing", sample_index=1, tool_error="unrecovered")
    failing.checks = [CheckResult(kind="state_equals", passed=False, reason="A1 still late")]
    report = export_traces([handled, failing], tmp_path / "o.jsonl", "openai")
    assert report.written == 1 and report.skipped == {"unrecovered_tool_error": 1}
    (row,) = read_jsonl(tmp_path / "o.jsonl")
    assert any(m.get("weight") == 0 for m in row["messages"])  # the failed call is still not a target


def test_only_passing_keeps_episodes_whose_checks_all_passed(tmp_path: Path) -> None:
    passed, failed, unchecked = make_trace("p"), make_trace("f", sample_index=1), make_trace("u", sample_index=2)
    passed.checks = [CheckResult(kind="tool_called", passed=True, reason="ok")]
    failed.checks = [*passed.checks, CheckResult(kind="state_equals", passed=False, reason="no")]
    report = export_traces(
        [passed, failed, unchecked], tmp_path / "o.jsonl", "openai", ExportOptions(only_passing=True)
    )
    assert (report.written, report.skipped) == (1, {"not_passing": 2})


# --------------------------------------------------------------------------- parallel calls


def test_split_parallel_calls_interleaves_each_result_after_its_call(tmp_path: Path) -> None:
    trace = with_parallel_calls(make_trace())
    row = export_one(tmp_path, trace, "hf", split_parallel_calls=True)
    head = [
        (m["role"], m.get("tool_call_id") or [c["id"] for c in m.get("tool_calls", [])]) for m in row["messages"][2:6]
    ]
    assert head == [("assistant", ["p1"]), ("tool", "p1"), ("assistant", ["p2"]), ("tool", "p2")]
    assert row["messages"][2]["content"] == "Checking." and row["messages"][4]["content"] == ""
    together = export_one(tmp_path, trace, "hf")
    assert len(together["messages"][2]["tool_calls"]) == 2


def test_openai_writes_parallel_tool_calls(tmp_path: Path) -> None:
    parallel = with_parallel_calls(make_trace())
    assert export_one(tmp_path, parallel, "openai")["parallel_tool_calls"] is True
    assert export_one(tmp_path, parallel, "openai", split_parallel_calls=True)["parallel_tool_calls"] is False
    assert export_one(tmp_path, make_trace(), "openai")["parallel_tool_calls"] is True
    no_tools = make_trace()
    no_tools.tools, no_tools.steps = [], []
    no_tools.messages = [m for m in no_tools.messages if m.role in ("system", "user") or not m.tool_calls]
    no_tools.messages = [m for m in no_tools.messages if m.role != "tool"]
    assert set(export_one(tmp_path, no_tools, "openai")) == {"messages", "tools"}


# --------------------------------------------------------------------------- reasoning


def with_reasoning(trace: Trace) -> Trace:
    for index, message in enumerate(trace.messages):
        if message.role == "assistant":
            trace.messages[index] = message.model_copy(update={"reasoning": f"thinking {index}"})
    return trace


@pytest.mark.parametrize(
    ("fmt", "where"),
    [
        ("hf", lambda row: [m.get("reasoning_content") for m in row["messages"] if m["role"] == "assistant"]),
        ("oumi", lambda row: [m.get("reasoning_content") for m in row["messages"] if m["role"] == "assistant"]),
        (
            "sharegpt",
            lambda row: [t["value"].split("\n</think>")[0] for t in row["conversations"] if t["from"] == "gpt"],
        ),
        (
            "llamafactory",
            lambda row: [
                t["value"].split("\n</think>")[0] for t in row["conversations"] if t["from"] in ("gpt", "function_call")
            ],
        ),
    ],
)
def test_reasoning_keep_writes_it_in_the_format_s_convention(tmp_path: Path, fmt: str, where: Any) -> None:
    trace = with_reasoning(make_trace())
    kept = where(export_one(tmp_path, trace, fmt, reasoning="keep"))
    expected = [f"thinking {i}" for i, m in enumerate(trace.messages) if m.role == "assistant"]
    if fmt in ("sharegpt", "llamafactory"):
        expected = [f"<think>\n{text}" for text in expected]
    assert kept == expected
    assert "thinking" not in json.dumps(export_one(tmp_path, trace, fmt))  # dropped by default


def test_openai_refuses_to_keep_reasoning() -> None:
    with pytest.raises(EnvsimError, match="no field for the model's reasoning"):
        export_traces([make_trace()], "/dev/null", "openai", ExportOptions(reasoning="keep"))


# --------------------------------------------------------------------------- call ids


def test_alnum9_call_ids_stay_paired_with_their_results(tmp_path: Path) -> None:
    row = export_one(tmp_path, with_parallel_calls(make_trace()), "hf", call_ids="alnum9")
    ids = [c["id"] for m in row["messages"] for c in m.get("tool_calls", [])]
    answered = [m["tool_call_id"] for m in row["messages"] if m["role"] == "tool"]
    assert ids == answered and len(set(ids)) == len(ids)
    assert all(len(i) == 9 and i.isalnum() for i in ids)

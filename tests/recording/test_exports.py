"""Each export format parsed back and checked against the trace; filtering counted per reason."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from envsim.errors import EnvsimError
from envsim.messages import ToolCall
from envsim.recording import RunDirectory, RunManifest
from envsim.recording.exporters import ExportOptions, decode_hf_row, export_run, export_traces

from .factories import make_trace, tool_calls_of


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def original_calls(trace) -> list[tuple[str, dict[str, Any]]]:
    return [(c.name, c.parsed_arguments()) for m in trace.messages for c in (m.tool_calls or [])]


def test_openai_arguments_are_strings_and_tool_call_ids_match(tmp_path: Path) -> None:
    trace = make_trace(tool_error="recovered")
    report = export_traces([trace], tmp_path / "o.jsonl", "openai")
    assert (report.written, report.skipped, report.kept_with_tool_errors) == (1, {}, 1)
    (row,) = read_jsonl(tmp_path / "o.jsonl")
    assert set(row) == {"messages", "tools", "parallel_tool_calls"}
    calls = tool_calls_of(row)
    assert all(isinstance(c["function"]["arguments"], str) for c in calls)
    assert [(c["function"]["name"], json.loads(c["function"]["arguments"])) for c in calls] == original_calls(trace)
    call_ids = [c["id"] for c in calls]
    tool_msgs = [m for m in row["messages"] if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in tool_msgs] == call_ids
    assert all("name" not in m for m in tool_msgs)
    # The recovered error is kept as context, stated as an error; the failed call is not trained (weight 0).
    assert json.loads(tool_msgs[0]["content"]) == {"error": trace.steps[0].error}
    weights = [
        (m.get("tool_calls", [{}])[0].get("id"), m.get("weight")) for m in row["messages"] if m["role"] == "assistant"
    ]
    assert weights[0] == (trace.steps[0].call_id, 0)
    assert all(weight is None for _, weight in weights[1:])
    assert row["tools"][1] == {
        "type": "function",
        "function": {
            "name": "cancel_order",
            "description": "Cancel an order.",
            "parameters": trace.tools[1].parameters,
        },
    }


def test_sharegpt_tags_parse_back_to_the_original_calls(tmp_path: Path) -> None:
    trace = make_trace()
    export_traces([trace], tmp_path / "s.jsonl", "sharegpt")
    (row,) = read_jsonl(tmp_path / "s.jsonl")
    turns = row["conversations"]
    assert [t["from"] for t in turns] == ["system", "human", "gpt", "tool", "gpt", "human", "gpt", "tool", "gpt"]
    system = turns[0]["value"]
    assert system.startswith("You are a helpful support agent.")
    tools = json.loads(re.search(r"<tools>\n(.*?)\n</tools>", system, re.S).group(1))
    assert [t["function"]["name"] for t in tools] == ["get_order", "cancel_order"]

    calls = [
        (c["name"], c["arguments"])
        for t in turns
        if t["from"] == "gpt"
        for c in map(json.loads, re.findall(r"<tool_call>\n(.*?)\n</tool_call>", t["value"], re.S))
    ]
    assert calls == original_calls(trace)
    assert turns[6]["value"].startswith("Cancelling now.\n<tool_call>")
    responses = [json.loads(x) for x in re.findall(r"<tool_response>\n(.*?)\n</tool_response>", turns[3]["value"])]
    assert responses == [{"name": "get_order", "content": {"order_id": "A1", "status": "late"}}]


def test_sharegpt_parallel_calls_share_one_gpt_turn_and_one_tool_turn(tmp_path: Path) -> None:
    trace = make_trace()
    first, second = ToolCall.make("get_order", {"order_id": "A1"}, id="p1"), ToolCall.make("get_order", {}, id="p2")
    trace.messages[2] = trace.messages[2].model_copy(update={"tool_calls": [first, second]})
    tool_message = trace.messages[3]
    trace.messages[3:4] = [
        tool_message.model_copy(update={"tool_call_id": "p1"}),
        tool_message.model_copy(update={"tool_call_id": "p2"}),
    ]
    export_traces([trace], tmp_path / "s.jsonl", "sharegpt")
    turns = read_jsonl(tmp_path / "s.jsonl")[0]["conversations"]
    assert turns[2]["value"].count("<tool_call>") == 2
    assert turns[3]["from"] == "tool" and turns[3]["value"].count("<tool_response>") == 2


@pytest.mark.parametrize("arguments", ["string", "object"])
def test_hf_rows_are_chat_template_inputs(tmp_path: Path, arguments: str) -> None:
    trace = make_trace()
    export_traces([trace], tmp_path / "h.jsonl", "hf", ExportOptions(arguments=arguments))
    (row,) = read_jsonl(tmp_path / "h.jsonl")
    assert row["tools"] == [t.to_openai() for t in trace.tools]
    raw_args = tool_calls_of(row)[0]["function"]["arguments"]
    assert raw_args == ('{"order_id": "A1"}' if arguments == "string" else {"order_id": "A1"})
    assert row["messages"][1] == {"role": "user", "content": "Where is my order A1?"}
    assert row["messages"][2]["content"] == ""  # a tool-call-only message: "" (Qwen3's template fails on null)
    assert row["messages"][3] == {
        "role": "tool",
        "content": '{"order_id": "A1", "status": "late"}',
        "tool_call_id": trace.messages[3].tool_call_id,
        "name": "get_order",
    }
    messages, tools = decode_hf_row(row)
    assert tools == [t.to_openai() for t in trace.tools]
    assert messages[2]["tool_calls"][0]["function"] == {"name": "get_order", "arguments": {"order_id": "A1"}}


def test_default_filters_count_each_reason(tmp_path: Path) -> None:
    traces = [
        make_trace("ok"),
        make_trace("recovered", tool_error="recovered"),
        make_trace("failed", failed=True),
        make_trace("unrecovered", tool_error="unrecovered"),
        make_trace("empty", empty=True),
    ]
    report = export_traces(traces, tmp_path / "o.jsonl", "openai")
    assert report.written == 2
    assert report.skipped == {"empty_messages": 1, "failed": 1, "unrecovered_tool_error": 1}
    assert report.kept_with_tool_errors == 1

    everything = ExportOptions(include_failed=True, include_tool_errors=True, include_empty=True)
    report = export_traces(traces, tmp_path / "all.jsonl", "openai", everything)
    assert (report.written, report.skipped, report.kept_with_tool_errors) == (5, {}, 2)
    kept = read_jsonl(tmp_path / "all.jsonl")[3]
    errors = [json.loads(m["content"]) for m in kept["messages"] if m["role"] == "tool"]
    assert {"error": traces[3].steps[0].error} in errors


def test_tool_error_is_explicit_even_if_the_message_hid_it(tmp_path: Path) -> None:
    trace = make_trace(tool_error="unrecovered")
    trace.messages[3] = trace.messages[3].model_copy(update={"content": '{"status": "ok"}'})
    export_traces([trace], tmp_path / "o.jsonl", "openai", ExportOptions(include_tool_errors=True))
    tool_msgs = [m for m in read_jsonl(tmp_path / "o.jsonl")[0]["messages"] if m["role"] == "tool"]
    assert json.loads(tool_msgs[0]["content"]) == {"error": trace.steps[0].error}


def test_inconsistent_and_unparseable_calls_are_skipped(tmp_path: Path) -> None:
    orphan = make_trace("orphan")
    del orphan.messages[3]  # a call without its tool result
    bad_args = make_trace("bad-args")
    call = bad_args.messages[2].tool_calls[0]
    bad_args.messages[2].tool_calls[0] = call.model_copy(
        update={"function": call.function.model_copy(update={"arguments": "{oops"})}
    )
    for fmt in ("sharegpt", "openai", "hf"):
        report = export_traces([orphan, bad_args], tmp_path / "s.jsonl", fmt)
        assert report.skipped == {"inconsistent_tool_calls": 1, "unparseable_arguments": 1}, fmt


def test_export_run_reads_failures_too_and_rejects_unknown_format(tmp_path: Path) -> None:
    with RunDirectory.open(tmp_path / "run", manifest=RunManifest.create({}, seed=0, command_line=[])) as run:
        run.append_trace(make_trace("a"))
        run.append_trace(make_trace("b", sample_index=1, failed=True))
    report = export_run(tmp_path / "run", tmp_path / "o.jsonl", "openai")
    assert (report.written, report.skipped) == (1, {"failed": 1})
    report = export_run(tmp_path / "run", tmp_path / "o.jsonl", "openai", ExportOptions(include_failed=True))
    assert report.written == 2
    with pytest.raises(EnvsimError, match="unknown export format 'csv'"):
        export_run(tmp_path / "run", tmp_path / "x.jsonl", "csv")

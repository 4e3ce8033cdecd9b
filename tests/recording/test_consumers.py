"""Each export as its consumer reads it: `datasets` (JSON and parquet, lossless), OpenAI's fine-tuning
rules, LLaMA-Factory's sharegpt converter, oumi's `text_sft_jsonl` loader."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from envsim.cli import app
from envsim.messages import Message, ToolCall, ToolSpec
from envsim.recording import RunDirectory, RunManifest, write_dataset
from envsim.recording.exporters import EXPORT_FORMATS, ExportOptions, export_traces
from envsim.recording.exporters.llamafactory import alternation_problem
from envsim.recording.trace import StepRecord, Trace

from .factories import make_trace
from .test_training_options import with_parallel_calls, with_reasoning


def with_other_tool(trace: Trace) -> Trace:
    """Another tool, with another argument shape: what makes `datasets` schema inference merge structs."""
    tool = ToolSpec(
        name="add_note",
        description="Attach a note.",
        parameters={
            "type": "object",
            "properties": {"lines": {"type": "array", "items": {"type": "string"}}, "urgent": {"type": "boolean"}},
            "additionalProperties": False,
        },
    )
    call = ToolCall.make("add_note", {"lines": ["a", "b"], "urgent": True, "extra": {"n": 1.5}}, id="n1")
    trace.tools = [tool]
    trace.messages[2:4] = [Message.assistant(tool_calls=[call]), Message.tool("n1", '{"ok": true}', name="add_note")]
    trace.steps[0] = StepRecord(turn=1, environment="notes", tool="add_note", call_id="n1", output={"ok": True})
    del trace.messages[5:9]
    del trace.steps[1]
    return trace


def mixed_traces() -> list[Trace]:
    return [
        make_trace("plain"),
        make_trace("recovered", sample_index=1, tool_error="recovered"),
        with_parallel_calls(make_trace("parallel", sample_index=2)),
        with_other_tool(make_trace("other-tool", sample_index=3)),
        with_reasoning(make_trace("reasoning", sample_index=4)),
    ]


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def export(tmp_path: Path, fmt: str, **options: Any) -> list[dict[str, Any]]:
    out = tmp_path / f"{fmt}.jsonl"
    report = export_traces(mixed_traces(), out, fmt, ExportOptions(**options))
    assert report.written == len(mixed_traces()), report.skipped
    return read_jsonl(out)


# --------------------------------------------------------------------------- datasets


@pytest.mark.parametrize("fmt", list(EXPORT_FORMATS))
def test_every_export_loads_with_datasets_exactly_and_survives_parquet(tmp_path: Path, fmt: str) -> None:
    datasets = pytest.importorskip("datasets")
    options = {"reasoning": "keep"} if fmt != "openai" else {}
    written = export(tmp_path, fmt, **options)
    cache = str(tmp_path / "cache")
    loaded = datasets.load_dataset("json", data_files=str(tmp_path / f"{fmt}.jsonl"), split="train", cache_dir=cache)
    # Lossless: no struct merging (no other tool's argument names set to null), no key added or lost.
    assert [dict(row) for row in loaded] == written
    loaded.to_parquet(str(tmp_path / f"{fmt}.parquet"))
    back = datasets.load_dataset("parquet", data_files=str(tmp_path / f"{fmt}.parquet"), split="train", cache_dir=cache)
    assert [dict(row) for row in back] == written


def test_hf_arguments_and_tools_are_objects_after_loading(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    export(tmp_path, "hf")
    loaded = datasets.load_dataset(
        "json", data_files=str(tmp_path / "hf.jsonl"), split="train", cache_dir=str(tmp_path)
    )
    row = loaded[3]  # the other tool
    call = row["messages"][2]["tool_calls"][0]["function"]
    assert call == {"name": "add_note", "arguments": {"lines": ["a", "b"], "urgent": True, "extra": {"n": 1.5}}}
    assert row["tools"][0]["function"]["parameters"]["additionalProperties"] is False
    assert "order_id" not in json.dumps(row["tools"])  # no other row's tool schema merged in


# --------------------------------------------------------------------------- OpenAI fine-tuning

_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_ALLOWED_KEYS = {
    "system": {"role", "content", "name"},
    "user": {"role", "content", "name"},
    "assistant": {"role", "content", "tool_calls", "weight", "name"},
    "tool": {"role", "content", "tool_call_id"},
}


def openai_fine_tuning_problems(example: dict[str, Any]) -> list[str]:
    """OpenAI's documented rules for chat fine-tuning examples with tools (platform docs, "Fine-tuning":
    data format, function calling, and weights)."""
    problems: list[str] = []
    if not set(example) <= {"messages", "tools", "parallel_tool_calls"}:
        problems.append(f"unknown top-level keys {set(example) - {'messages', 'tools', 'parallel_tool_calls'}}")
    tools = example.get("tools", [])
    tool_names = set()
    for tool in tools:
        function = tool.get("function", {})
        if tool.get("type") != "function" or not _NAME.match(function.get("name", "")):
            problems.append(f"bad tool {tool}")
        if not isinstance(function.get("parameters", {}), dict):
            problems.append("tool parameters must be a JSON schema object")
        tool_names.add(function.get("name"))
    if "parallel_tool_calls" in example and not isinstance(example["parallel_tool_calls"], bool):
        problems.append("parallel_tool_calls must be a boolean")
    messages = example.get("messages") or []
    pending: set[str] = set()
    trained = 0
    for index, m in enumerate(messages):
        role = m.get("role")
        if role not in _ALLOWED_KEYS:
            problems.append(f"message {index}: role {role!r}")
            continue
        if not set(m) <= _ALLOWED_KEYS[role]:
            problems.append(f"message {index}: keys {set(m) - _ALLOWED_KEYS[role]} not allowed on {role}")
        if "weight" in m and m["weight"] not in (0, 1):
            problems.append(f"message {index}: weight must be 0 or 1")
        if role in ("system", "user") and not (isinstance(m.get("content"), str) and m["content"]):
            problems.append(f"message {index}: {role} needs text content")
        if role == "assistant":
            calls = m.get("tool_calls") or []
            if not calls and not (isinstance(m.get("content"), str) and m["content"]):
                problems.append(f"message {index}: assistant needs content or tool_calls")
            for call in calls:
                function = call.get("function", {})
                if set(call) != {"id", "type", "function"} or call["type"] != "function":
                    problems.append(f"message {index}: tool call shape {call}")
                if function.get("name") not in tool_names:
                    problems.append(f"message {index}: call of {function.get('name')!r}, not in tools")
                arguments = function.get("arguments")
                if not isinstance(arguments, str) or not isinstance(json.loads(arguments), dict):
                    problems.append(f"message {index}: arguments must be a JSON object in a string")
                pending.add(call["id"])
            trained += m.get("weight", 1)
        if role == "tool":
            if m.get("tool_call_id") not in pending:
                problems.append(f"message {index}: tool message answers no earlier call")
            pending.discard(m.get("tool_call_id"))
            if not isinstance(m.get("content"), str):
                problems.append(f"message {index}: tool content must be a string")
    if not messages or messages[-1].get("role") != "assistant":
        problems.append("the example must end with an assistant message")
    if trained == 0:
        problems.append("no assistant message is trained (all weights are 0)")
    return problems


@pytest.mark.parametrize("options", [{}, {"split_parallel_calls": True}, {"error_turns": "keep"}], ids=str)
def test_every_openai_export_follows_openai_s_fine_tuning_rules(tmp_path: Path, options: dict[str, Any]) -> None:
    for example in export(tmp_path, "openai", **options):
        assert openai_fine_tuning_problems(example) == []


def test_the_openai_rules_check_catches_what_openai_rejects() -> None:
    bad = {
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "x", "weight": 2},
            {"role": "tool", "content": "{}", "tool_call_id": "nope", "name": "t"},
        ]
    }
    problems = openai_fine_tuning_problems(bad)
    assert any("weight must be 0 or 1" in p for p in problems)
    assert any("answers no earlier call" in p for p in problems)
    assert any("keys {'name'} not allowed on tool" in p for p in problems)
    assert any("must end with an assistant message" in p for p in problems)


# --------------------------------------------------------------------------- LLaMA-Factory


def test_llamafactory_rows_pass_its_sharegpt_converter_rules(tmp_path: Path) -> None:
    for row in export(tmp_path, "llamafactory", reasoning="keep"):
        assert set(row) == {"id", "conversations", "system", "tools"}
        assert alternation_problem(row["conversations"]) is None, row["conversations"]
        assert {t["from"] for t in row["conversations"]} <= {"human", "gpt", "function_call", "observation"}
        assert row["system"] == "You are a helpful support agent."
        assert isinstance(row["tools"], str) and json.loads(row["tools"])[0]["type"] == "function"
        for turn in row["conversations"]:
            if turn["from"] == "function_call":
                # LLaMA-Factory strips a leading <think> block, then parses the call(s) as JSON
                payload = json.loads(re.sub(r"^<think>.*?</think>\n", "", turn["value"], flags=re.S))
                for call in payload if isinstance(payload, list) else [payload]:
                    assert set(call) == {"name", "arguments"} and isinstance(call["arguments"], dict)


def test_llamafactory_alternation_check_matches_the_converter() -> None:
    assert alternation_problem([{"from": "human", "value": "a"}, {"from": "gpt", "value": "b"}]) is None
    assert "expected one of" in (alternation_problem([{"from": "tool", "value": "a"}]) or "")
    assert "even count" in (alternation_problem([{"from": "human", "value": "a"}]) or "")


def test_cli_prints_and_writes_the_dataset_info_entry(tmp_path: Path) -> None:
    with RunDirectory.open(tmp_path / "run", manifest=RunManifest.create({}, seed=0, command_line=[])) as run:
        run.append_trace(make_trace())
    out = tmp_path / "support_tools.json"
    result = CliRunner().invoke(app, ["export", str(tmp_path / "run"), "-f", "llamafactory", "-o", str(out)])
    assert result.exit_code == 0, result.output
    entry = json.loads((tmp_path / "support_tools.dataset_info.json").read_text())
    assert entry == {
        "support_tools": {
            "file_name": "support_tools.json",
            "formatting": "sharegpt",
            "columns": {"messages": "conversations", "system": "system", "tools": "tools"},
            "tags": {
                "role_tag": "from",
                "content_tag": "value",
                "user_tag": "human",
                "assistant_tag": "gpt",
                "observation_tag": "observation",
                "function_tag": "function_call",
            },
        }
    }
    assert '"formatting": "sharegpt"' in result.output


# --------------------------------------------------------------------------- oumi


def oumi_detected_format(first: dict[str, Any]) -> str | None:
    """`TextSftJsonLinesDataset._detect_format` (oumi-ai/oumi, src/oumi/datasets/sft/sft_jsonlines.py)."""

    def messages_ok(messages: Any) -> bool:
        return isinstance(messages, list) and all(
            isinstance(m, dict) and "role" in m and ("content" in m or "tool_calls" in m) for m in messages
        )

    if "messages" in first:
        return "oumi" if messages_ok(first["messages"]) else None
    if "conversation" in first:
        conversation = first["conversation"]
        return "conversations" if isinstance(conversation, dict) and messages_ok(conversation.get("messages")) else None
    return None


def oumi_message_problems(message: dict[str, Any]) -> list[str]:
    """`oumi.core.types.conversation.Message` / `ToolCall` validation."""
    problems = []
    if message["role"] not in ("system", "user", "assistant", "tool"):
        problems.append(f"role {message['role']!r}")
    if message.get("content") is None and not message.get("tool_calls"):
        problems.append("content is null without tool_calls")
    if message.get("content") is not None and not isinstance(message["content"], str | list):
        problems.append("content must be a string or a list")
    for call in message.get("tool_calls") or []:
        if not isinstance(call.get("id"), str) or not isinstance(call["function"].get("name"), str):
            problems.append(f"tool call {call}")
        if not isinstance(call["function"].get("arguments"), str | dict | list):
            problems.append("arguments must be a str, dict or list")
    return problems


def test_oumi_export_is_what_text_sft_jsonl_reads(tmp_path: Path) -> None:
    rows = export(tmp_path, "oumi", reasoning="keep")
    assert oumi_detected_format(rows[0]) == "oumi"
    for row in rows:
        assert set(row) <= {"conversation_id", "messages", "tools", "metadata"}
        for message in row["messages"]:
            assert oumi_message_problems(message) == [], message
    calls = [m for m in rows[0]["messages"] if m.get("tool_calls")]
    assert calls and all(m["content"] is None for m in calls if not m["content"])
    assert calls[0] == {"role": "assistant", "content": None, "tool_calls": calls[0]["tool_calls"]}  # like oumi's own
    assert isinstance(calls[0]["tool_calls"][0]["function"]["arguments"], str)  # oumi's storage contract


def test_the_dataset_file_is_readable_by_oumi_under_the_conversation_key(tmp_path: Path) -> None:
    trace = make_trace()
    trace.conversation_id = "conversation"  # the key oumi's loader recognises besides `messages`
    write_dataset([trace], tmp_path / "data.jsonl", passthrough=["conversation"])
    (row,) = read_jsonl(tmp_path / "data.jsonl")
    assert oumi_detected_format(row) == "conversations"
    assert all(oumi_message_problems(m) == [] for m in row["conversation"]["messages"])

"""The model's reasoning, from the provider reply to the trace to the export (never sent back on the wire)."""

from __future__ import annotations

import json
from pathlib import Path

import anthropic.types
import pytest

from envsim.api import run_config
from envsim.models.anthropic_provider import AnthropicChatModel
from envsim.models.base import ModelRequest, ModelResponse
from envsim.models.mock import MockModel
from envsim.models.openai_provider import OpenAIChatModel
from envsim.recording import RunDirectory
from envsim.recording.exporters import ExportOptions, export_run
from envsim.testing.fake_server import FakeModelServer

from .test_fault_injected_run import EXAMPLE

KEY = "sk-test-reasoning"


def test_openai_compatible_reasoning_content_is_kept_apart_from_the_answer() -> None:
    model = OpenAIChatModel("qwen3", base_url="http://127.0.0.1:9/v1", api_key=KEY)
    reply = {
        "choices": [
            {
                "message": {"role": "assistant", "content": "Order A1 is late.", "reasoning_content": "Look it up."},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 4},
    }
    message = model.parse_completion(reply).message
    assert (message.content, message.reasoning) == ("Order A1 is late.", "Look it up.")
    assert "reasoning" not in message.to_openai()  # never sent back


def test_anthropic_thinking_blocks_become_reasoning() -> None:
    model = AnthropicChatModel("claude-sonnet-4-5", api_key=KEY)
    reply = anthropic.types.Message.model_validate(
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5",
            "content": [
                {"type": "thinking", "thinking": "The user wants A1.", "signature": "sig"},
                {"type": "text", "text": "Order A1 is late."},
            ],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 3, "output_tokens": 4},
        }
    )
    message = model.parse_message(reply).message
    assert (message.content, message.reasoning) == ("Order A1 is late.", "The user wants A1.")


async def test_a_run_records_the_assistant_s_reasoning_and_exports_offer_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    mock = MockModel("reasoning")

    def reply(request: ModelRequest) -> ModelResponse:
        response = mock.reply(request)
        if request.tools and request.response_schema is None:  # the assistant (over HTTP, roles are not sent)
            message = response.message.model_copy(update={"reasoning": "thinking about the customer"})
            response = response.model_copy(update={"message": message})
        return response

    async with FakeModelServer(reply, api_key=KEY) as server:
        summary = await run_config(
            EXAMPLE,
            out_dir=tmp_path / "run",
            model_override=f"openai:fake@{server.openai_base_url}",
            overrides=[f"output_path={tmp_path / 'data.jsonl'}"],
            num_samples=2,
            no_cache=True,
            status_interval_s=60,
        )
        sent = [json.dumps(entry.body) for entry in server.log]
    assert summary.done == 2, summary.recent_errors
    assert not any("thinking about the customer" in body for body in sent)  # never sent back to a model
    with RunDirectory.open(tmp_path / "run", manifest=None) as run:
        assistants = [m for t in run.traces() for m in t.messages if m.role == "assistant"]
    assert assistants and all(m.reasoning == "thinking about the customer" for m in assistants)

    export_run(tmp_path / "run", tmp_path / "hf.jsonl", "hf", ExportOptions(reasoning="keep"))
    rows = [json.loads(line) for line in (tmp_path / "hf.jsonl").read_text().splitlines()]
    kept = [m.get("reasoning_content") for row in rows for m in row["messages"] if m["role"] == "assistant"]
    assert kept and set(kept) == {"thinking about the customer"}

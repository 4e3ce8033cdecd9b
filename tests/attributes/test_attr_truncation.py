"""A generated text attribute cut off at the token limit is flagged (trace, summary) or, by option, rejected."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from envsim.api import run_config
from envsim.attributes.generation import generate_attribute
from envsim.config.models import GeneratedAttribute
from envsim.errors import OutputValidationError
from envsim.messages import Message
from envsim.models.base import ModelResponse, Usage
from envsim.recording import RunDirectory
from envsim.simulation.progress import summary_table
from envsim.testing import FunctionModel


def cut_off(text: str) -> ModelResponse:
    return ModelResponse(message=Message.assistant(text), finish_reason="length", usage=Usage(requests=1), model="m")


def attribute(**fields: object) -> GeneratedAttribute:
    base = {"id": "question", "instruction_messages": [{"role": "USER", "content": "Write a question."}]}
    return GeneratedAttribute.model_validate({**base, **fields})


async def test_a_cut_off_text_reply_is_kept_and_flagged() -> None:
    model = FunctionModel(lambda _request: cut_off("Where is my ord"))
    result = await generate_attribute(attribute(), {}, model, location="g[0]", episode_id="e")
    assert result.values == {"question": "Where is my ord"}
    assert result.truncated == ["question"]


async def test_a_complete_reply_is_not_flagged() -> None:
    model = FunctionModel(lambda _request: "Where is my order?")
    result = await generate_attribute(attribute(), {}, model, location="g[0]", episode_id="e")
    assert result.truncated == []


async def test_on_truncation_reject_fails_with_the_key_to_change() -> None:
    model = FunctionModel(lambda _request: cut_off("Where is my ord"))
    with pytest.raises(OutputValidationError) as info:
        await generate_attribute(
            attribute(on_truncation="reject"),
            {},
            model,
            location="strategy_params.generated_attributes[0]",
            episode_id="e",
        )
    message = str(info.value)
    assert "'question'" in message and "strategy_params.generated_attributes[0]" in message
    assert "max_new_tokens" in message and "on_truncation" in message


def _config(tmp_path: Path, on_truncation: str) -> Path:
    config = {
        "strategy_params": {
            "generated_attributes": [
                {
                    "id": "question",
                    "on_truncation": on_truncation,
                    "instruction_messages": [{"role": "USER", "content": "Write question number {n}."}],
                }
            ],
            "sampled_attributes": [{"id": "n", "possible_values": [{"id": str(i), "name": str(i)} for i in range(4)]}],
        },
        "num_samples": 4,
        "output_path": str(tmp_path / "out.jsonl"),
        "inference_config": {"model": {"model_name": "function:replies.py:cut_every_second"}},
    }
    (tmp_path / "replies.py").write_text(REPLIES)
    path = tmp_path / "config.yaml"
    path.write_text(json.dumps(config))
    return path


REPLIES = """
from envsim.messages import Message
from envsim.models.base import ModelResponse, Usage


def cut_every_second(request):
    text = request.messages[-1].content or ""
    if text.endswith(("1.", "3.")):
        cut = Message.assistant("Question num")
        return ModelResponse(message=cut, finish_reason="length", usage=Usage(requests=1), model="f")
    return "Full question for: " + text
"""


async def test_a_run_flags_cut_off_samples_in_trace_dataset_and_summary(tmp_path: Path) -> None:
    summary = await run_config(_config(tmp_path, "flag"), out_dir=tmp_path / "run")
    traces = list(RunDirectory.open(tmp_path / "run", manifest=None).traces())
    cut = [t.episode_id for t in traces if t.attributes["n"] in ("1", "3")]
    assert 0 < len(cut) < 4, "the seed should draw both kinds of sample"
    for trace in traces:
        assert trace.truncated_attributes == (["question"] if trace.episode_id in cut else [])
    assert summary.dataset_written == 4
    assert sorted(summary.truncated_attribute_episodes) == sorted(cut)
    lines = (tmp_path / "out.jsonl").read_text().splitlines()
    assert all("truncated_attributes" not in json.loads(line) for line in lines)  # oumi's row shape is kept
    table = summary_table(summary)
    assert "cut-off attributes" in [str(c) for c in table.columns[0]._cells]


async def test_a_run_with_reject_records_the_cut_off_samples_as_failures(tmp_path: Path) -> None:
    summary = await run_config(_config(tmp_path, "reject"), out_dir=tmp_path / "run")
    traces = list(RunDirectory.open(tmp_path / "run", manifest=None).traces(include_failed=True))
    cut = [t for t in traces if t.error]
    assert 0 < len(cut) < 4
    assert (summary.done, summary.failed, summary.dataset_written) == (4 - len(cut), len(cut), 4 - len(cut))
    assert all("cut off at the token limit" in (t.error or "") for t in cut)

"""DataSetGenerator: batches of examples per model call, validated one by one; events; failure
summaries; chain of thought (freetext and agent with tool calls); dedup; a resumable run directory."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from envsim.models.base import ModelRequest
from envsim.recording import RunDirectory
from envsim.testing import FunctionModel
from envsim.topics import TopicTree
from envsim.topics.events import GenerationComplete, GenerationStart, StepComplete
from envsim.topics.generator import DataSetGenerator, DataSetGeneratorError, GeneratedDataset

from .helpers import subtopic_model


def _topics(request: ModelRequest) -> list[str]:
    prompt = request.messages[-1].content or ""
    block = prompt.split("Topics:\n", 1)[1].split("\n\nReply with", 1)[0]
    return [re.sub(r"^\d+\. ", "", line).split(" -> ")[-1] for line in block.splitlines() if line.strip()]


_OPENERS = [
    "Why does rain fall in",
    "How should a beginner plan for",
    "What gear do climbers pack regarding",
    "Which museums stay open despite",
    "When is sunrise photography best during",
    "Where can families picnic given",
    "Could you compare forecasts about",
    "Is it safe to kayak through",
]


def example_model(
    style: str = "basic", *, bad: set[int] = frozenset(), calls: list[int] | None = None
) -> FunctionModel:
    counter = {"n": 0}

    def reply(request: ModelRequest) -> str:
        if calls is not None:
            calls.append(1)
        examples: list[dict[str, Any]] = []
        for topic in _topics(request):
            number = counter["n"]
            counter["n"] += 1
            # Distinct wording per example: the near-duplicate filter is on by default.
            question = f"{_OPENERS[number % len(_OPENERS)]} {topic}?"
            if number in bad:
                examples.append({"question": question})  # the answer is missing
            elif style == "basic":
                examples.append({"question": question, "answer": f"Answer about {topic}."})
            elif style == "freetext":
                examples.append({"question": question, "chain_of_thought": "First... then...", "final_answer": "42"})
            else:
                examples.append(
                    {
                        "question": question,
                        "reasoning_steps": [
                            {
                                "thought": "I need the weather.",
                                "tool_call": {"name": "get_weather", "arguments": {"city": "Oslo"}, "result": {"c": 3}},
                            },
                            {"thought": "3 degrees is cold."},
                        ],
                        "final_answer": "Wear a coat.",
                    }
                )
        return json.dumps({"examples": examples})

    return FunctionModel(reply, name="function:examples")


async def _tree() -> TopicTree:
    return await TopicTree("Weather", degree=2, depth=2).build(subtopic_model())


async def test_events_dataset_and_failures(tmp_path: Path) -> None:
    generator = DataSetGenerator(model=example_model(bad={2}), run_dir=tmp_path / "run", default_batch_size=2)
    items = [item async for item in generator.create_data_with_events_async(num_steps=3, topic_model=await _tree())]
    assert isinstance(items[0], GenerationStart) and items[0].total_samples == 6
    steps = [i for i in items if isinstance(i, StepComplete)]
    assert sorted(s.step for s in steps) == [0, 1, 2]
    assert sum(s.samples_generated for s in steps) == 5 and sum(s.failed_in_step for s in steps) == 1
    assert isinstance(items[-2], GenerationComplete) and items[-2].failed_samples == 1
    dataset = items[-1]
    assert isinstance(dataset, GeneratedDataset) and len(dataset) == 5
    assert dataset.samples[0]["messages"][0] == {
        "role": "user",
        "content": "Why does rain fall in Weather / part 0 / part 0?",
    }
    summary = generator.summarize_failures()
    assert summary["total_failures"] == 1 and summary["failure_types"] == {"validation": 1}
    assert "answer" in summary["examples"]["validation"][0]
    run = RunDirectory.open(tmp_path / "run", manifest=None)
    assert run.status().done == 5 and run.status().failed == 1
    generator.print_failure_summary()


async def test_a_finished_run_is_not_asked_again(tmp_path: Path) -> None:
    calls: list[int] = []
    tree = await _tree()
    first = DataSetGenerator(model=example_model(calls=calls), run_dir=tmp_path / "run")
    await first.create_data_async(num_steps=2, batch_size=2, topic_model=tree)
    assert len(calls) == 2
    again = DataSetGenerator(model=example_model(calls=calls), run_dir=tmp_path / "run")
    dataset = await again.create_data_async(num_steps=2, batch_size=2, topic_model=tree)
    assert len(calls) == 2 and len(dataset) == 4
    assert again.save_dataset(tmp_path / "out.jsonl").read_text().count("\n") == 4


async def test_chain_of_thought_freetext_keeps_reasoning_apart(tmp_path: Path) -> None:
    generator = DataSetGenerator(
        model=example_model("freetext"),
        run_dir=tmp_path / "run",
        conversation_type="chain_of_thought",
        sys_msg="Be kind.",
    )
    dataset = await generator.create_data_async(num_steps=1, batch_size=1, topic_model=await _tree())
    messages = dataset.samples[0]["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant"]
    assert messages[2] == {"role": "assistant", "content": "42", "reasoning": "First... then..."}


async def test_chain_of_thought_agent_reasons_before_each_tool_call(tmp_path: Path) -> None:
    tools = [{"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]
    generator = DataSetGenerator(
        model=example_model("agent"),
        run_dir=tmp_path / "run",
        conversation_type="chain_of_thought",
        reasoning_style="agent",
        tools=tools,
    )
    dataset = await generator.create_data_async(num_steps=1, batch_size=1, topic_model=await _tree())
    messages = dataset.samples[0]["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "assistant"]
    assert messages[1]["reasoning"] == "I need the weather."
    assert messages[1]["tool_calls"][0]["function"] == {"name": "get_weather", "arguments": '{"city": "Oslo"}'}
    assert messages[2]["content"] == '{"c": 3}'
    assert messages[3] == {"role": "assistant", "content": "Wear a coat.", "reasoning": "3 degrees is cold."}


async def test_near_duplicates_are_dropped_and_reported(tmp_path: Path) -> None:
    def same(request: ModelRequest) -> str:
        return json.dumps({"examples": [{"question": "What is rain?", "answer": "Water."}] * len(_topics(request))})

    generator = DataSetGenerator(model=FunctionModel(same), run_dir=tmp_path / "run")
    dataset = await generator.create_data_async(num_steps=1, batch_size=3, topic_model=await _tree())
    assert len(dataset) == 1
    assert generator.summarize_failures()["failure_types"] == {"duplicate": 2}


def test_user_errors_are_generator_errors() -> None:
    with pytest.raises(DataSetGeneratorError, match="conversation_type"):
        DataSetGenerator(conversation_type="essay")  # type: ignore[arg-type]
    with pytest.raises(DataSetGeneratorError, match="names no provider"):
        DataSetGenerator(model_name="gpt-4o-mini")._model_string(None)
    with pytest.raises(DataSetGeneratorError, match="cannot read example_data"):
        DataSetGenerator(example_data="/nonexistent/examples.jsonl")


async def test_a_model_string_and_rate_limits_build_envsims_stack(tmp_path: Path) -> None:
    from envsim.config.models import RemoteParams
    from envsim.models.retry import RetryPolicy

    policy = RetryPolicy.from_remote_params(RemoteParams(max_retries=2, initial_retry_delay=0.5, max_retry_delay=4.0))
    assert (policy.max_attempts, policy.initial_delay, policy.max_delay) == (3, 0.5, 4.0)
    generator = DataSetGenerator(
        provider="mock",
        model_name="any",
        run_dir=tmp_path / "run",
        rate_limit={"max_requests_per_minute": 600, "max_retries": 1, "initial_retry_delay": 0.1, "max_retry_delay": 1},
    )
    dataset = await generator.create_data_async(num_steps=1, batch_size=2)
    # The mock model's replies are schema-valid JSON; its examples may be fewer than asked: none crash the run.
    assert len(dataset) + len(generator.failed_samples) == 2


async def test_against_the_fake_server_over_http(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from envsim.testing import FakeModelServer

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    async with FakeModelServer(example_model("freetext").fn) as server:
        generator = DataSetGenerator(
            model_name=f"openai:fake@{server.openai_base_url}",
            run_dir=tmp_path / "run",
            conversation_type="chain_of_thought",
        )
        dataset = await generator.create_data_async(num_steps=2, batch_size=2, topic_model=await _tree())
    assert len(dataset) == 4
    assert all(s["messages"][-1]["reasoning"] == "First... then..." for s in dataset.samples)


async def test_duplicate_topics_are_reported_and_can_be_dropped(tmp_path: Path) -> None:
    from envsim.topics import load_topic_model

    topics = tmp_path / "t.jsonl"
    paths = [["Weather", "Rain", "Umbrellas"], ["Weather", "Storms", "Umbrellas"], ["Weather", "Sun", "Hats"]]
    topics.write_text("".join(json.dumps({"path": p}) + "\n" for p in paths))
    tree = load_topic_model(topics)
    kept = DataSetGenerator(model=example_model(), run_dir=tmp_path / "a")
    await kept.create_data_async(num_steps=1, batch_size=3, topic_model=tree)
    assert kept.duplicate_topics == [("umbrellas", 2)]
    dropped = DataSetGenerator(model=example_model(), run_dir=tmp_path / "b", drop_duplicate_topics=True)
    dataset = await dropped.create_data_async(num_steps=1, batch_size=2, topic_model=tree)
    assert [s["topic"]["path"][1] for s in dataset.samples] == ["Rain", "Sun"]

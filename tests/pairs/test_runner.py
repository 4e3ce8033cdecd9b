"""A pairs job end to end in a run directory: pairs as traces, modes, dedupe, responder, resume, failures."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from envsim.errors import RateLimitError, RunError
from envsim.models.base import ModelRequest
from envsim.pairs.api import run_pairs
from envsim.pairs.exploration import settings_for
from envsim.pairs.runner import CANCEL_FILE, PairsModels
from envsim.pairs.types import Example, ExplorationMode, JobState, PairsRequest
from envsim.recording.exporters import export_run
from envsim.recording.run_dir import RunDirectory
from envsim.recording.trace import TerminationReason
from envsim.testing import FunctionModel, ScriptedModel
from tests.pairs.conftest import SUPPORT_PROMPT, generator_model, models
from tests.pairs.fake_generator import reply, user_text


def _request(seeds: list[Example], n: int = 7, **fields: object) -> PairsRequest:
    return PairsRequest(seeds=seeds, num_pairs_to_generate=n, **fields)  # type: ignore[arg-type]


async def test_pairs_are_recorded_as_traces_with_a_separate_response_model(
    tmp_path: Path, seeds: list[Example]
) -> None:
    generator = generator_model()
    responder = FunctionModel(lambda request: f"Support answer to: {user_text(request)}", name="function:app")
    request = _request(seeds, system_prompt=SUPPORT_PROMPT, application_description="Acme customer support")
    status = await run_pairs(request, tmp_path / "job", PairsModels(generator=generator, responder=responder))

    assert status.state is JobState.DONE and status.pairs_requested == 7
    assert status.data is not None and len(status.data) == 7
    assert all(p.llm_output == f"Support answer to: {p.llm_input}" for p in status.data)
    assert responder.calls >= 7
    lines = (tmp_path / "job" / "pairs.jsonl").read_text().splitlines()
    assert [Example.model_validate_json(line) for line in lines] == status.data

    traces = list(RunDirectory.open(tmp_path / "job", manifest=None).traces())
    assert [t.episode_id for t in traces] == [f"pair-{i:06d}" for i in range(7)]
    first = traces[0]
    assert first.termination is TerminationReason.GENERATED_PAIR and first.conversation_id == "pair"
    assert [m.role for m in first.messages] == ["system", "user", "assistant"]
    assert first.messages[0].content == SUPPORT_PROMPT
    assert first.attributes["llm_input"] == status.data[0].llm_input
    assert set(first.usage) == {"pairs_generator", "pairs_responder"}

    out = tmp_path / "train.jsonl"
    report = export_run(tmp_path / "job", out, "openai")
    assert report.written == 7
    assert json.loads(out.read_text().splitlines()[0])["messages"][1]["content"] == status.data[0].llm_input


async def test_generator_prompt_carries_the_application_and_the_shots(tmp_path: Path, seeds: list[Example]) -> None:
    generator = generator_model()
    request = _request(seeds, n=3, application_description="Acme customer support", num_shots=2, batch_size=3)
    await run_pairs(request, tmp_path / "job", PairsModels(generator, generator))
    prompt = user_text(generator.requests[0])
    assert "Application: Acme customer support" in prompt
    assert prompt.count("<example>") == 2 and "Write 3 new input-response pairs" in prompt
    schema = generator.requests[0].response_schema or {}
    assert "pairs" in schema.get("properties", {})  # no system prompt: the generator writes both sides


async def test_exploration_modes_set_sampling_and_guidance_and_move_the_figures(
    tmp_path: Path, seeds: list[Example]
) -> None:
    figures = {}
    for mode in (ExplorationMode.CONSERVATIVE, ExplorationMode.ADVENTUROUS):
        generator = generator_model()
        status = await run_pairs(
            _request(seeds, n=20, exploration_mode=mode), tmp_path / mode.value, PairsModels(generator, generator)
        )
        first = generator.requests[0]
        settings = settings_for(mode)
        assert first.params.temperature == settings.temperature and first.params.top_p == settings.top_p
        assert settings.guidance in user_text(first)
        assert status.diversity is not None and status.diversity.pairs == 20
        figures[mode] = status.diversity
    conservative, adventurous = figures[ExplorationMode.CONSERVATIVE], figures[ExplorationMode.ADVENTUROUS]
    assert conservative.mean_jaccard_to_nearest_seed > adventurous.mean_jaccard_to_nearest_seed + 0.1
    assert conservative.mean_char3_cosine_to_nearest_seed > adventurous.mean_char3_cosine_to_nearest_seed
    assert adventurous.distinct_1 > conservative.distinct_1


async def test_creative_modes_show_earlier_generated_pairs_as_shots(tmp_path: Path, seeds: list[Example]) -> None:
    generator = generator_model()
    request = _request(seeds, n=10, exploration_mode=ExplorationMode.CREATIVE, num_shots=4, batch_size=5)
    status = await run_pairs(request, tmp_path / "job", PairsModels(generator, generator))
    assert status.data is not None
    second_prompt = user_text(generator.requests[1])
    assert sum(f"<input>{p.llm_input}</input>" in second_prompt for p in status.data[:5]) == 2  # half the shots


async def test_duplicates_of_seeds_and_of_each_other_are_dropped(tmp_path: Path, seeds: list[Example]) -> None:
    replies = [
        json.dumps({"pairs": [{"llm_input": seeds[0].llm_input.upper(), "llm_output": "copy"}] * 2}),
        json.dumps({"pairs": [{"llm_input": "Is there a student discount?", "llm_output": "Yes, 20%."}] * 3}),
    ] * 10
    model = ScriptedModel(replies)
    status = await run_pairs(_request(seeds, n=3, batch_size=3), tmp_path / "job", PairsModels(model, model))
    assert status.state is JobState.DONE
    assert [p.llm_input for p in status.data or []] == ["Is there a student discount?"]
    # budget: 3 batches for 3 pairs of 3; dropped: 2 seed copies, 2 repeats of the accepted input, 2 copies
    assert status.diversity is not None and status.diversity.duplicates_dropped == 6
    assert model.remaining == len(replies) - 3
    assert "batch budget ran out" in status.detailed_status[-1]


async def test_resume_extends_without_repeating_and_a_changed_request_is_refused(
    tmp_path: Path, seeds: list[Example]
) -> None:
    out = tmp_path / "job"
    first = await run_pairs(_request(seeds, n=5), out, models())
    again = generator_model()
    same = await run_pairs(_request(seeds, n=5), out, PairsModels(again, again))
    assert same.data == first.data and again.calls == 0  # nothing left to do: no model call
    extended = await run_pairs(_request(seeds, n=9), out, models())
    assert extended.data is not None and extended.data[:5] == first.data and len(extended.data) == 9
    assert len({p.llm_input for p in extended.data}) == 9 and extended.pairs_requested == 9
    with pytest.raises(RunError, match=r"config\.pairs"):
        await run_pairs(_request(seeds, n=9, exploration_mode="CREATIVE"), out, models())


async def test_a_failing_model_ends_the_job_as_error_keeping_pairs(tmp_path: Path, seeds: list[Example]) -> None:
    good = reply  # first batch fine, then the endpoint gives up

    calls = {"n": 0}

    def flaky(request: ModelRequest) -> str:
        calls["n"] += 1
        if calls["n"] > 1:
            raise RateLimitError("HTTP 429: slow down", status=429)
        return good(request)

    model = FunctionModel(flaky)
    status = await run_pairs(_request(seeds, n=8), tmp_path / "job", PairsModels(model, model))
    assert status.state is JobState.ERROR and len(status.data or []) == 5
    assert "slow down" in status.detailed_status[-1]


async def test_unusable_replies_end_the_job_after_three_batches(tmp_path: Path, seeds: list[Example]) -> None:
    model = ScriptedModel(["not json"] * 9)  # 3 validation attempts per batch, 3 batches
    status = await run_pairs(_request(seeds, n=4), tmp_path / "job", PairsModels(model, model))
    assert status.state is JobState.ERROR and "no usable reply" in status.detailed_status[-1]
    model.assert_consumed()


async def test_a_cancel_marker_stops_the_job_between_batches(tmp_path: Path, seeds: list[Example]) -> None:
    out = tmp_path / "job"

    def cancelling(request: ModelRequest) -> str:
        (out / CANCEL_FILE).touch()  # someone cancels while the first batch is being generated
        return reply(request)

    model = FunctionModel(cancelling)
    status = await run_pairs(_request(seeds, n=20), out, PairsModels(model, model))
    assert status.state is JobState.CANCELLED and len(status.data or []) == 5


async def test_parallel_batches_record_pairs_in_batch_order(tmp_path: Path, seeds: list[Example]) -> None:
    async def later_batches_first(request: ModelRequest) -> str:
        batch = int((request.context.episode_id or "").rsplit("-", 1)[-1])
        await asyncio.sleep(0.05 * (4 - batch % 4))  # within a wave, the last batch answers first
        return reply(request)

    parallel = FunctionModel(later_batches_first)
    sequential = generator_model()
    request = _request(seeds, n=18, run_parallel_batches=True)
    fast = await run_pairs(request, tmp_path / "parallel", PairsModels(parallel, parallel))
    slow = await run_pairs(_request(seeds, n=18), tmp_path / "sequential", PairsModels(sequential, sequential))
    assert fast.data is not None and len(fast.data) == 18
    assert fast.data == slow.data  # same prompts per batch, recorded in batch order
    traces = list(RunDirectory.open(tmp_path / "parallel", manifest=None).traces())
    assert [t.attributes["batch"] for t in traces] == sorted(t.attributes["batch"] for t in traces)

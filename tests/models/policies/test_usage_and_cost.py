"""Usage aggregation per role / episode / model / run, and cost from the price table."""

from __future__ import annotations

import asyncio
import threading

import pytest

from envsim.errors import ConfigError
from envsim.messages import Message
from envsim.models.base import ModelRequest, ModelResponse, RequestContext, Usage
from envsim.models.pricing import PriceTable
from envsim.models.usage import UsageTracker, UsageTrackingModel
from envsim.testing import FunctionModel


def _request(role: str | None, episode: str | None) -> ModelRequest:
    return ModelRequest(messages=[Message.user("hi")], context=RequestContext(role=role, episode_id=episode))


def _replying(usage: Usage, name: str) -> FunctionModel:
    return FunctionModel(lambda r: ModelResponse(message=Message.assistant("ok"), usage=usage.model_copy()), name=name)


async def test_aggregates_per_role_episode_model_and_run() -> None:
    tracker = UsageTracker()
    model = UsageTrackingModel(
        _replying(Usage(requests=1, input_tokens=100, output_tokens=10, cache_read_tokens=50), "openai:gpt-4o-mini"),
        tracker,
    )
    await model.generate(_request("user", "ep1"))
    await model.generate(_request("assistant", "ep1"))
    await model.generate(_request("assistant", "ep2"))
    await model.generate(_request(None, None))

    total = tracker.total()
    assert (total.requests, total.input_tokens, total.output_tokens, total.cache_read_tokens) == (4, 400, 40, 200)
    by_role = tracker.by_role()
    assert by_role["assistant"].requests == 2 and by_role["user"].requests == 1 and by_role["other"].requests == 1
    episode = tracker.episode("ep1")
    assert set(episode) == {"user", "assistant"} and episode["assistant"].input_tokens == 100
    snapshot = tracker.snapshot()
    assert snapshot.by_model["openai:gpt-4o-mini"].requests == 4
    assert tracker.pop_episode("ep1") == episode and tracker.episode("ep1") == {}
    assert tracker.total().requests == 4  # run totals survive


async def test_cost_from_default_prices() -> None:
    tracker = UsageTracker()
    usage = Usage(requests=1, input_tokens=1_000_000, output_tokens=1_000_000, cache_read_tokens=1_000_000)
    response = await UsageTrackingModel(_replying(usage, "openai:gpt-4o-mini"), tracker).generate(_request("user", "e"))
    # gpt-4o-mini: 0.15 in, 0.60 out, 0.075 cached, per 1M
    assert response.usage.cost_usd == pytest.approx(0.825)
    assert tracker.total().cost_usd == pytest.approx(0.825)


async def test_unknown_model_shows_tokens_without_a_price() -> None:
    tracker = UsageTracker()
    usage = Usage(requests=1, input_tokens=10, output_tokens=5)
    model = UsageTrackingModel(_replying(usage, "openai:my-finetune@http://127.0.0.1:8000/v1"), tracker)
    response = await model.generate(_request("user", "e"))
    assert response.usage.cost_usd is None
    snapshot = tracker.snapshot()
    assert snapshot.total.cost_usd is None and snapshot.total.input_tokens == 10
    assert snapshot.unpriced_models == ["openai:my-finetune@http://127.0.0.1:8000/v1"]


async def test_user_prices_override_and_extend_the_table() -> None:
    prices = PriceTable({"my-finetune": {"input": 1.0, "output": 2.0}, "gpt-4o-mini": {"input": 10, "output": 20}})
    usage = Usage(requests=1, input_tokens=1_000_000, output_tokens=1_000_000, cache_read_tokens=1_000_000)
    assert prices.cost("openai:my-finetune@http://127.0.0.1:8000/v1", usage) == pytest.approx(4.0)  # cache_read=input
    assert prices.cost("openai:gpt-4o-mini", usage) == pytest.approx(40.0)


def test_price_lookup_matches_snapshots_but_never_guesses() -> None:
    table = PriceTable()
    assert table.lookup("gpt-4o-mini-2024-07-18") == table.lookup("gpt-4o-mini") is not None
    assert table.lookup("anthropic:claude-sonnet-4-5-20250929") == table.lookup("claude-sonnet-4-5")
    assert table.lookup("gpt-4o") != table.lookup("gpt-4o-mini")
    assert table.lookup("gpt-4o-audio-preview") is None
    assert table.lookup("openai:gpt-4o@http://127.0.0.1:8000/v1") is None  # a local server, not OpenAI's price
    assert table.lookup("openai:gpt-4o@https://api.openai.com/v1") is not None


def test_anthropic_cache_write_and_read_are_priced() -> None:
    usage = Usage(requests=1, cache_read_tokens=1_000_000, cache_write_tokens=1_000_000)
    # sonnet: read 0.30, write 3.75
    assert PriceTable().cost("anthropic:claude-sonnet-4-5", usage) == pytest.approx(4.05)


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ({"input": 1.0}, "missing"),
        ({"input": 1, "output": 1, "cached": 1}, "unknown price key"),
        ({"input": -1, "output": 1}, ">= 0"),
    ],
)
def test_bad_user_prices_name_the_model_and_key(spec: dict[str, float], fragment: str) -> None:
    with pytest.raises(ConfigError) as raised:
        PriceTable({"my-model": spec})
    assert fragment in str(raised.value) and "inference_config.prices.my-model" in str(raised.value)


async def test_cache_hits_count_as_hits_with_savings() -> None:
    tracker = UsageTracker()
    original = Usage(requests=1, input_tokens=1_000_000, output_tokens=0)
    hit = ModelResponse(
        message=Message.assistant("ok"), usage=Usage(cache_hits=1, cost_usd=0.0), cached=True, saved_usage=original
    )
    model = UsageTrackingModel(FunctionModel(lambda r: hit.model_copy(deep=True), name="openai:gpt-4o-mini"), tracker)
    await model.generate(_request("user", "e"))
    snapshot = tracker.snapshot()
    assert snapshot.total.cache_hits == 1 and snapshot.total.requests == 0 and snapshot.total.cost_usd == 0.0
    assert snapshot.saved.input_tokens == 1_000_000 and snapshot.saved.cost_usd == pytest.approx(0.15)


def test_tracker_is_thread_safe() -> None:
    tracker = UsageTracker()

    def work() -> None:
        for _ in range(2000):
            tracker.record(Usage(requests=1, input_tokens=1), role="user", episode_id="e", model="m")

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert tracker.total().requests == 16_000 and tracker.episode("e")["user"].input_tokens == 16_000


async def test_tracker_is_task_safe() -> None:
    tracker = UsageTracker()
    model = UsageTrackingModel(_replying(Usage(requests=1, input_tokens=3), "function:x"), tracker)
    await asyncio.gather(*(model.generate(_request("planner", f"e{i % 5}")) for i in range(100)))
    assert tracker.by_role()["planner"].input_tokens == 300
    assert sum(tracker.episode(f"e{i}")["planner"].requests for i in range(5)) == 100

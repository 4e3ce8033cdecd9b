"""Response cache: hits and misses, ordinals per episode, exact replay, persistence, errors not cached."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from pathlib import Path

import pytest

from envsim.errors import RetryableModelError
from envsim.messages import Message
from envsim.models.base import GenerationParams, ModelRequest, ModelResponse, RequestContext, Usage
from envsim.models.cache import CachingModel, ResponseCache
from envsim.testing import FunctionModel


def _request(text: str = "hi", episode: str | None = "ep1", temperature: float | None = 1.0) -> ModelRequest:
    return ModelRequest(
        messages=[Message.user(text)],
        params=GenerationParams(temperature=temperature),
        context=RequestContext(episode_id=episode, role="user"),
    )


def _sampling_model(seed: int = 0) -> FunctionModel:
    """Replies with a fresh random number each call, like sampling at temperature > 0."""
    rng = random.Random(seed)

    def reply(request: ModelRequest) -> ModelResponse:
        return ModelResponse(
            message=Message.assistant(f"{request.messages[-1].content}:{rng.random():.12f}"),
            usage=Usage(requests=1, input_tokens=7, output_tokens=3),
        )

    return FunctionModel(reply, name="openai:m")


async def test_miss_then_hit_marks_the_hit_and_keeps_original_usage(tmp_path: Path) -> None:
    inner = _sampling_model()
    model = CachingModel(inner, ResponseCache(tmp_path))
    first = await model.generate(_request())
    model.cache.forget_episode("ep1")  # the episode restarts: same ordinals again
    second = await model.generate(_request())
    assert inner.calls == 1
    assert second.text == first.text and second.cached and not first.cached
    assert second.usage == Usage(cache_hits=1)  # priced (at zero) by the usage layer, not here
    assert second.saved_usage == Usage(requests=1, input_tokens=7, output_tokens=3)


async def test_identical_calls_in_one_episode_stay_diverse_by_ordinal(tmp_path: Path) -> None:
    inner = _sampling_model()
    model = CachingModel(inner, ResponseCache(tmp_path))
    a = await model.generate(_request())
    b = await model.generate(_request())
    assert a.text != b.text and inner.calls == 2  # not collapsed to one sample


async def test_same_request_in_different_episodes_is_not_shared(tmp_path: Path) -> None:
    inner = _sampling_model()
    model = CachingModel(inner, ResponseCache(tmp_path))
    a = await model.generate(_request(episode="ep1"))
    b = await model.generate(_request(episode="ep2"))
    assert a.text != b.text and inner.calls == 2


@pytest.mark.parametrize(
    "change",
    [
        {"messages": [Message.user("other")]},
        {"params": GenerationParams(temperature=0.2)},
        {"response_schema": {"type": "object"}},
        {"tool_choice": "none"},
    ],
)
async def test_anything_that_changes_the_reply_changes_the_key(tmp_path: Path, change: dict[str, object]) -> None:
    inner = _sampling_model()
    model = CachingModel(inner, ResponseCache(tmp_path))
    await model.generate(_request())
    model.cache.forget_episode("ep1")
    await model.generate(_request().model_copy(update=change))
    assert inner.calls == 2


async def test_rerun_replays_exactly_whatever_the_concurrency_order(tmp_path: Path) -> None:
    episodes = [f"ep{i}" for i in range(8)]

    async def run(model: CachingModel, order_seed: int) -> dict[str, list[str]]:
        async def episode(episode_id: str) -> list[str]:
            rng = random.Random(order_seed * 1000 + hash(episode_id) % 1000)
            texts = []
            for turn in range(3):
                await asyncio.sleep(rng.random() / 200)  # shuffle interleavings between runs
                for _ in range(2):  # an identical call repeated within the episode
                    texts.append((await model.generate(_request(f"turn{turn}", episode_id))).text)
            return texts

        results = await asyncio.gather(*(episode(e) for e in episodes))
        return dict(zip(episodes, results, strict=True))

    first_cache = ResponseCache(tmp_path)
    first = await run(CachingModel(_sampling_model(1), first_cache), order_seed=1)
    first_cache.close()  # as a finished (or interrupted) run does: pending writes are stored
    fresh_inner = _sampling_model(2)  # would produce different samples if asked
    replay = await run(CachingModel(fresh_inner, ResponseCache(tmp_path)), order_seed=2)
    assert replay == first
    assert fresh_inner.calls == 0


async def test_cache_persists_across_instances(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path)
    first = await CachingModel(_sampling_model(), cache).generate(_request())
    cache.close()
    inner = _sampling_model(5)
    again = await CachingModel(inner, ResponseCache(tmp_path)).generate(_request())
    assert again.text == first.text and again.cached and inner.calls == 0


async def test_errors_are_never_cached_and_the_retry_takes_the_same_slot(tmp_path: Path) -> None:
    outcomes: list[BaseException | str] = [RetryableModelError("boom", status=500), "fine"]

    def reply(request: ModelRequest) -> str:
        outcome = outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    model = CachingModel(FunctionModel(reply, name="openai:m"), ResponseCache(tmp_path))
    with pytest.raises(RetryableModelError):
        await model.generate(_request())
    assert len(model.cache) == 0
    assert (await model.generate(_request())).text == "fine"

    model.cache.forget_episode("ep1")
    replay = await model.generate(_request())  # ordinal 0 again: replays the successful reply
    assert replay.cached and replay.text == "fine"


async def test_error_replies_are_not_stored(tmp_path: Path) -> None:
    model = CachingModel(
        FunctionModel(lambda r: ModelResponse(message=Message.assistant(""), finish_reason="error"), name="x:m"),
        ResponseCache(tmp_path),
    )
    await model.generate(_request())
    assert len(model.cache) == 0


async def test_disabled_cache_passes_through(tmp_path: Path) -> None:
    inner = _sampling_model()
    model = CachingModel(inner, ResponseCache(tmp_path / "unused", enabled=False))
    await model.generate(_request())
    model.cache.forget_episode("ep1")
    second = await model.generate(_request())
    assert inner.calls == 2 and not second.cached
    assert not (tmp_path / "unused").exists()


async def test_writes_are_behind_yet_read_back_at_once_and_stored_on_close(tmp_path: Path) -> None:
    """put() queues for the writer thread (no commit on the event loop); the entry is a hit at once in
    this instance, and on disk for the next one after close()."""
    cache = ResponseCache(tmp_path)
    model = CachingModel(_sampling_model(), cache)
    texts = [(await model.generate(_request(f"turn{i}", "ep"))).text for i in range(50)]
    cache.forget_episode("ep")  # the same calls again: all from the cache, flushed or not
    again = [await model.generate(_request(f"turn{i}", "ep")) for i in range(50)]
    assert [r.text for r in again] == texts and all(r.cached for r in again)
    cache.close()
    reopened = ResponseCache(tmp_path)
    assert len(reopened) == 50
    inner = _sampling_model(9)
    replay = [(await CachingModel(inner, reopened).generate(_request(f"turn{i}", "ep"))).text for i in range(50)]
    assert replay == texts and inner.calls == 0
    reopened.close()


async def test_the_writer_thread_stores_without_close(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path)
    await CachingModel(_sampling_model(), cache).generate(_request())
    other = ResponseCache(tmp_path)  # another process's view: only what was committed
    deadline = time.monotonic() + 5
    while len(other) == 0 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert len(other) == 1
    other.close()
    # Idle, the writer thread ends by itself (a parent process with no extra thread can fork its workers).
    while any(t.name.endswith(str(tmp_path)) for t in threading.enumerate()) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert not any(t.name.endswith(str(tmp_path)) for t in threading.enumerate())
    cache.close()

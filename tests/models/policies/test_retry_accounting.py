"""Both retry policies are recorded: network retries and validation re-asks show up in usage per role."""

from __future__ import annotations

from pydantic import BaseModel

from envsim.errors import RetryableModelError
from envsim.messages import Message
from envsim.models.base import ModelRequest, RequestContext
from envsim.models.retry import RetryingModel, RetryPolicy
from envsim.models.structured import structured_call
from envsim.models.usage import UsageTracker, UsageTrackingModel
from envsim.testing import FunctionModel


class Answer(BaseModel):
    value: int


async def test_network_retries_and_validation_reasks_are_counted_per_role_and_episode() -> None:
    failures = iter([RetryableModelError("HTTP 503", status=503)])
    replies = iter(["not json", '{"value": 3}'])

    def reply(request: ModelRequest) -> str:
        error = next(failures, None)
        if error is not None:
            raise error
        return next(replies)

    tracker = UsageTracker()
    model = UsageTrackingModel(RetryingModel(FunctionModel(reply), RetryPolicy(initial_delay=0.001)), tracker)
    result = await structured_call(
        model,
        system="answer",
        input="what is 1 + 2?",
        output_type=Answer,
        context=RequestContext(episode_id="ep-1", role="planner"),
    )
    assert result.value == Answer(value=3) and result.attempts == 2
    planner = tracker.snapshot().by_role["planner"]
    assert planner.requests == 2
    assert planner.retries == 1  # the 503 before the first reply
    assert planner.validation_retries == 1  # the re-ask after "not json"
    assert tracker.episode("ep-1")["planner"].validation_retries == 1


async def test_a_clean_call_records_no_retries() -> None:
    tracker = UsageTracker()
    model = UsageTrackingModel(RetryingModel(FunctionModel(lambda r: "hi"), RetryPolicy()), tracker)
    await model.generate(ModelRequest(messages=[Message.user("x")], context=RequestContext(role="user")))
    usage = tracker.snapshot().by_role["user"]
    assert (usage.retries, usage.validation_retries) == (0, 0)

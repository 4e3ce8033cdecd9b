"""Structured calls: input formatting, schema in the request, validation re-asks, prompt files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import BaseModel

from envsim.errors import DataError, OutputValidationError, RetryableModelError
from envsim.messages import Message
from envsim.models.base import ModelRequest, ModelResponse, RequestContext, Usage
from envsim.models.retry import RetryingModel, RetryPolicy
from envsim.models.structured import StructuredPrompt, format_input, structured_call
from envsim.testing import FunctionModel, ScriptedModel


class Ticket(BaseModel):
    subject: str
    priority: int


class Order(BaseModel):
    id: str
    items: list[str]


class Email(BaseModel):
    sender: str
    body: str


def _replies(*texts: str) -> FunctionModel:
    pending = list(texts)

    def reply(request: ModelRequest) -> ModelResponse:
        return ModelResponse(message=Message.assistant(pending.pop(0)), usage=Usage(requests=1, input_tokens=10))

    return FunctionModel(reply, name="function:replies")


def test_auto_format_picks_by_type() -> None:
    assert format_input("just text") == "just text"
    nested = format_input(Order(id="o1", items=["a", "b"]))
    assert json.loads(nested) == {"id": "o1", "items": ["a", "b"]}
    xml = format_input(Email(sender="ann@example.com", body="Hello,\nmy order <#12> is late & cold."))
    assert xml == "<sender>ann@example.com</sender>\n<body>Hello,\nmy order &lt;#12&gt; is late &amp; cold.</body>"
    assert json.loads(format_input({"a": 1})) == {"a": 1}


def test_format_can_be_overridden() -> None:
    assert format_input(Order(id="o1", items=["a"]), "xml") == "<id>o1</id>\n<items>\n<item>a</item>\n</items>"
    assert format_input(Ticket(subject="s", priority=2), "text") == "subject: s\npriority: 2"
    assert json.loads(format_input(Email(sender="a", body="x\ny"), "json"))["body"] == "x\ny"


async def test_valid_reply_on_first_attempt_sends_the_schema() -> None:
    model = ScriptedModel(['```json\n{"subject": "refund", "priority": 2}\n```'])
    result = await structured_call(
        model,
        system="Make a ticket.",
        input="My refund is late",
        output_type=Ticket,
        context=RequestContext(role="planner", episode_id="e1"),
    )
    assert result.value == Ticket(subject="refund", priority=2) and result.attempts == 1
    request = model.requests[0]
    assert request.response_schema == Ticket.model_json_schema() and request.response_schema_name == "Ticket"
    assert request.messages[0] == Message.system("Make a ticket.")
    assert request.messages[1].content is not None and request.messages[1].content.startswith("My refund is late")
    assert request.context.role == "planner"


async def test_invalid_reply_is_reasked_with_the_validation_error_shown() -> None:
    model = ScriptedModel(['{"subject": "refund", "priority": "high"}', 'Sure! {"subject": "refund", "priority": 1}'])
    result = await structured_call(model, system=None, input="x", output_type=Ticket)
    assert result.value.priority == 1 and result.attempts == 2 and len(result.responses) == 2
    reask = model.requests[1].messages
    assert reask[-2].role == "assistant" and "high" in (reask[-2].content or "")
    assert reask[-1].role == "user" and "priority" in (reask[-1].content or "")
    assert "valid integer" in (reask[-1].content or "")


async def test_gives_up_with_output_validation_error_after_the_budget() -> None:
    model = _replies("no json here", "[1, 2]", '{"subject": 3}')
    with pytest.raises(OutputValidationError) as raised:
        await structured_call(model, system=None, input="x", output_type=Ticket, max_validation_attempts=3)
    assert raised.value.attempts == 3 and raised.value.last_reply == '{"subject": 3}'
    assert "Ticket" in str(raised.value)


async def test_usage_is_summed_over_attempts() -> None:
    model = _replies("nope", '{"subject": "a", "priority": 1}')
    result = await structured_call(model, system=None, input="x", output_type=Ticket)
    assert result.usage.requests == 2 and result.usage.input_tokens == 20


async def test_network_retries_and_validation_reasks_have_separate_budgets() -> None:
    outcomes: list[BaseException | str] = [
        RetryableModelError("500", status=500),
        RetryableModelError("500", status=500),
        "not json",
        RetryableModelError("drop"),
        '{"subject": "s", "priority": 3}',
    ]

    def reply(request: ModelRequest) -> str:
        outcome = outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    async def no_sleep(_: float) -> None:
        return None

    model = RetryingModel(FunctionModel(reply, name="x:m"), RetryPolicy(max_attempts=3), sleep=no_sleep)
    result = await structured_call(model, system=None, input="x", output_type=Ticket, max_validation_attempts=2)
    assert result.attempts == 2  # network failures did not use the validation budget
    assert [r.call.attempts for r in result.responses if r.call] == [3, 2]


async def test_prompt_files_load_system_and_parameters(tmp_path: Path) -> None:
    (tmp_path / "triage.txt").write_text("You triage tickets.\n", encoding="utf-8")
    (tmp_path / "triage.json").write_text(
        json.dumps({"temperature": 0.1, "max_tokens": 50, "input_format": "text", "max_validation_attempts": 2}),
        encoding="utf-8",
    )
    prompt = StructuredPrompt.from_files(tmp_path / "triage")
    assert prompt.system == "You triage tickets." and prompt.params.temperature == 0.1
    model = ScriptedModel(['{"subject": "s", "priority": 1}'])
    result = await prompt.call(model, {"text": "help"}, output_type=Ticket)
    assert result.value.subject == "s"
    request = model.requests[0]
    assert request.params.max_tokens == 50 and request.messages[0].content == "You triage tickets."
    assert (request.messages[1].content or "").startswith("text: help")


async def test_prompt_files_with_output_schema_validate_plain_json(tmp_path: Path) -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    (tmp_path / "count.json").write_text(json.dumps({"output_schema": schema}), encoding="utf-8")
    prompt = StructuredPrompt.from_files(tmp_path / "count.json")
    assert prompt.system is None
    model = ScriptedModel(['{"n": "five"}', '{"n": 5}'])
    result = await prompt.call(model, "count the words")
    assert result.value == {"n": 5} and result.attempts == 2
    assert "n: 'five' is not of type 'integer'" in (model.requests[1].messages[-1].content or "")


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"temprature": 0.1}, "unknown key(s) ['temprature']"),
        ({"temperature": "hot"}, "bad generation parameter"),
        ({"output_schema": {"type": "nonsense"}}, "not a valid JSON Schema"),
        ({"input_format": "yaml"}, "input_format must be"),
    ],
)
def test_bad_prompt_parameters_are_reported_with_the_file(
    tmp_path: Path, params: dict[str, object], fragment: str
) -> None:
    (tmp_path / "p.json").write_text(json.dumps(params), encoding="utf-8")
    with pytest.raises(DataError) as raised:
        StructuredPrompt.from_files(tmp_path / "p")
    assert fragment in str(raised.value) and "p.json" in str(raised.value)


def test_missing_prompt_files_are_reported(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no prompt files"):
        StructuredPrompt.from_files(tmp_path / "absent")

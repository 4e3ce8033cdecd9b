"""Typed structured calls: formatters and parsers chosen by type, both retry policies, from_files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import BaseModel

from envsim.errors import DataError, OutputValidationError, RateLimitError
from envsim.messages import Message
from envsim.models.base import ModelRequest
from envsim.models.formatters import JsonFormatter, TextFormatter, XmlFormatter, formatter_for
from envsim.models.parsers import JsonParser, TextParser, XmlModel, XmlParser, parser_for
from envsim.models.retry import RetryPolicy
from envsim.models.structured import structured_call
from envsim.models.typed_call import CallRetryPolicy, TypedCall, ValidationRetryPolicy
from envsim.testing import FakeModelServer, FunctionModel, ScriptedModel


class Ticket(BaseModel):
    customer: str
    issue: str


class Verdict(BaseModel):
    category: str
    urgent: bool


class Letter(XmlModel):
    subject: str
    body: str
    priority: int


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def _user_text(request: ModelRequest) -> str:
    return next(m.content or "" for m in reversed(request.messages) if m.role == "user")


def test_formatter_and_parser_are_chosen_from_the_types() -> None:
    assert isinstance(formatter_for(str), TextFormatter)
    assert isinstance(formatter_for(Ticket), JsonFormatter)
    assert isinstance(formatter_for(Letter), XmlFormatter)
    assert isinstance(parser_for(str), TextParser)
    assert isinstance(parser_for(Verdict), JsonParser)
    assert isinstance(parser_for(Letter), XmlParser)
    assert isinstance(parser_for(list[Verdict]), JsonParser)


async def test_output_type_str_returns_the_reply_text() -> None:
    model = ScriptedModel(["  The customer wants a refund.  "])
    result = await structured_call(model, system="Summarize.", input="long complaint", output_type=str)
    assert result.value == "The customer wants a refund."
    request = model.requests[0]
    assert request.response_schema is None  # plain text: no JSON mode, no schema in the prompt
    assert _user_text(request) == "long complaint"


async def test_json_in_json_out_sends_the_schema_and_validates() -> None:
    model = ScriptedModel(['Sure! {"category": "billing", "urgent": true}'])
    call = TypedCall(model, system="Classify.", input_type=Ticket, output_type=Verdict)
    verdict = await call(Ticket(customer="Ann", issue="charged twice"))
    assert verdict == Verdict(category="billing", urgent=True)
    request = model.requests[0]
    assert request.response_schema == Verdict.model_json_schema()
    text = _user_text(request)
    assert json.loads(text.split("\n\nReply with only")[0]) == {"customer": "Ann", "issue": "charged twice"}
    assert request.context.role == "typed_call"


async def test_xml_output_is_parsed_from_a_reply_with_prose_around_it() -> None:
    reply = "Here you go:\n<Letter><subject>Refund &amp; apology</subject><body>Dear Ann,\n...</body>" + (
        "<priority>2</priority></Letter>\nAnything else?"
    )
    model = ScriptedModel([reply])
    letter = await TypedCall(model, input_type=Ticket, output_type=Letter)(Ticket(customer="Ann", issue="x"))
    assert letter == Letter(subject="Refund & apology", body="Dear Ann,\n...", priority=2)
    assert "<Letter>" in _user_text(model.requests[0])  # the prompt shows the XML skeleton
    assert model.requests[0].response_schema is None


async def test_xml_input_is_sent_as_elements() -> None:
    model = ScriptedModel(["ok"])
    await TypedCall(model, input_type=Letter, output_type=str)(Letter(subject="a < b", body="text", priority=1))
    assert _user_text(model.requests[0]) == "<subject>a &lt; b</subject>\n<body>text</body>\n<priority>1</priority>"


async def test_invalid_reply_is_reasked_with_the_problem_shown() -> None:
    model = ScriptedModel(['{"category": "billing"}', '{"category": "billing", "urgent": false}'])
    result = await TypedCall(model, output_type=Verdict).run("ticket text")
    assert result.value.urgent is False and result.attempts == 2
    second = model.requests[1]
    assert second.context.attempt == 2
    assert "urgent" in _user_text(second) and "could not be used" in _user_text(second)


async def test_validation_policy_bounds_attempts_and_waits_between_them() -> None:
    sleeps = Sleeps()
    model = ScriptedModel(["nope", "still no", "never"])
    policy = CallRetryPolicy(validation=ValidationRetryPolicy(max_attempts=3, initial_delay=0.5, multiplier=2))
    call = TypedCall(model, output_type=Verdict, retry=policy, sleep=sleeps)
    with pytest.raises(OutputValidationError) as caught:
        await call("ticket")
    assert caught.value.attempts == 3 and caught.value.last_reply == "never"
    assert sleeps.waits == [0.5, 1.0]
    model.assert_consumed()


async def test_network_policy_retries_model_errors_and_is_separate_from_validation() -> None:
    sleeps = Sleeps()
    replies = [RateLimitError("429", retry_after=0.1), RateLimitError("429"), "not json", '{"category":"a","urgent":1}']
    model = ScriptedModel(replies)
    policy = CallRetryPolicy(
        network=RetryPolicy(max_attempts=3, initial_delay=0.2, jitter=False),
        validation=ValidationRetryPolicy(max_attempts=2),
    )
    result = await TypedCall(model, output_type=Verdict, retry=policy, sleep=sleeps).run("t")
    assert result.value == Verdict(category="a", urgent=True) and result.attempts == 2
    assert sleeps.waits == [0.2, 0.4]  # Retry-After 0.1 is below the backoff, so the backoff wins

    no_network_retry = TypedCall(ScriptedModel([RateLimitError("429"), "x"]), output_type=Verdict, sleep=sleeps)
    with pytest.raises(RateLimitError):
        await no_network_retry("t")


def _write_call(tmp_path: Path, name: str, system: str | None, params: dict[str, object]) -> Path:
    base = tmp_path / name
    if system is not None:
        base.with_name(name + ".txt").write_text(system, encoding="utf-8")
    base.with_name(name + ".json").write_text(json.dumps(params), encoding="utf-8")
    return base


async def test_from_files_reads_the_system_message_and_the_model_from_json(tmp_path: Path) -> None:
    (tmp_path / "replies.yaml").write_text('- text: \'{"category": "shipping", "urgent": false}\'\n', encoding="utf-8")
    base = _write_call(
        tmp_path,
        "classify",
        "You classify support tickets.\n",
        {"model": "scripted:replies.yaml", "temperature": 0.2, "retry": {"validation": {"max_attempts": 1}}},
    )
    call = TypedCall.from_files(base, input_type=Ticket, output_type=Verdict)
    assert call.system == "You classify support tickets."
    assert call.params.temperature == 0.2 and call.retry.validation.max_attempts == 1
    assert call.model.name.startswith("scripted:")
    assert await call(Ticket(customer="Bo", issue="late parcel")) == Verdict(category="shipping", urgent=False)


async def test_from_files_against_the_fake_server_with_a_schema_and_network_retry(tmp_path: Path) -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    async with FakeModelServer() as server:
        base = _write_call(
            tmp_path,
            "count",
            "Count the words.",
            {
                "model": f"openai:fake-gpt@{server.openai_base_url}",
                "output_schema": schema,
                "retry": {"network": {"max_attempts": 3, "initial_delay": 0.01, "max_delay": 0.02}},
            },
        )
        call = TypedCall.from_files(base)
        server.faults.inject("server_error", times=2)
        result = await call.run("one two three")
        assert isinstance(result.value, dict) and isinstance(result.value["n"], int)
        assert result.responses[0].call is not None and result.responses[0].call.attempts == 3
        assert server.log[-1].body["messages"][0] == {"role": "system", "content": "Count the words."}
        await call.model.aclose()


async def test_from_files_without_output_type_or_schema_returns_text(tmp_path: Path) -> None:
    model = FunctionModel(lambda request: f"echo: {_user_text(request)}")
    base = _write_call(tmp_path, "echo", None, {"input_format": "text"})
    call = TypedCall.from_files(base, model=model)
    assert call.system is None
    assert await call({"a": 1, "b": "x"}) == "echo: a: 1\nb: x"


def test_from_files_errors_name_the_file_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no typed-call files"):
        TypedCall.from_files(tmp_path / "missing")
    base = _write_call(tmp_path, "bad", "sys", {"model": "mock:x", "temprature": 0.3})
    with pytest.raises(DataError, match=r"(?s)bad\.json.*temprature"):
        TypedCall.from_files(base)
    base = _write_call(tmp_path, "nomodel", "sys", {"temperature": 0.3})
    with pytest.raises(DataError, match="no model") as caught:
        TypedCall.from_files(base)
    assert caught.value.hint and '"model"' in caught.value.hint


async def test_a_conversation_message_list_can_be_asked_directly() -> None:
    from envsim.models.parsers import SchemaParser
    from envsim.models.typed_call import ask_typed

    model = ScriptedModel(['{"x": "nope"}', '{"x": 3}'])
    parser = SchemaParser({"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]}, name="pt")
    result = await ask_typed(model, [Message.system("s"), Message.user("give x")], parser)
    assert result.value == {"x": 3} and result.attempts == 2
    assert "x" in _user_text(model.requests[1]) and "is not of type 'integer'" in _user_text(model.requests[1])


class Triage(BaseModel):
    category: str
    urgent: bool
    summary: str


async def test_the_shipped_example_call_files_load_and_run_offline() -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "typed_calls" / "triage"
    call = TypedCall.from_files(example, input_type=Ticket, output_type=Triage)
    assert call.model.name == "mock:triage" and call.params.temperature == 0.0
    assert call.retry.validation.max_attempts == 3
    result = await call.run(Ticket(customer="Ann", issue="charged twice"))
    assert isinstance(result.value, Triage) and result.attempts == 1
    assert result.responses[0].call is not None  # went through the stack's retry layer (the file's policy)
    await call.model.aclose()


class Step(BaseModel):
    title: str
    minutes: int


class Plan(XmlModel):
    goal: str
    tags: list[str]
    steps: list[Step]
    owner: str | None = None


def test_xml_parser_reads_lists_and_nested_models_and_explains_problems() -> None:
    parser = XmlParser(Plan)
    text = (
        "```xml\n<Plan><goal>Refund</goal><tags><item>billing</item><item>vip</item></tags>"
        "<steps><item><title>Check</title><minutes>5</minutes></item>"
        "<item><title>Pay</title><minutes>2</minutes></item></steps><owner></owner></Plan>\n```"
    )
    assert parser.parse(text) == Plan(
        goal="Refund", tags=["billing", "vip"], steps=[Step(title="Check", minutes=5), Step(title="Pay", minutes=2)]
    )
    from envsim.models.parsers import ReplyParseError

    with pytest.raises(ReplyParseError, match="no <Plan>"):
        parser.parse("<Other/>")
    with pytest.raises(ReplyParseError, match="not well-formed"):
        parser.parse("<Plan><goal>a & b</goal></Plan>")
    with pytest.raises(ReplyParseError, match=r"steps\.0\.minutes"):
        parser.parse(
            "<Plan><goal>g</goal><tags/><steps><item><title>t</title><minutes>soon</minutes></item></steps></Plan>"
        )


async def test_output_format_from_the_file_overrides_the_type_choice(tmp_path: Path) -> None:
    model = ScriptedModel(["<Verdict><category>account</category><urgent>false</urgent></Verdict>"])
    base = _write_call(tmp_path, "xml", "Classify.", {"output_format": "xml", "input_format": "xml"})
    call = TypedCall.from_files(base, input_type=Ticket, output_type=Verdict, model=model)
    assert await call(Ticket(customer="Cy", issue="locked out")) == Verdict(category="account", urgent=False)
    assert _user_text(model.requests[0]).startswith("<customer>Cy</customer>\n<issue>locked out</issue>")
    bad = _write_call(tmp_path, "bad_text", None, {"output_format": "text"})
    with pytest.raises(DataError, match="text parser returns str"):
        TypedCall.from_files(bad, output_type=Verdict, model=model)

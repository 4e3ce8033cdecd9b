"""Typed structured calls (sintezi's StructuredAiCall): typed input -> model -> typed, validated output.

    call = TypedCall(model, system="Classify the ticket.", input_type=Ticket, output_type=Verdict)
    verdict = await call(Ticket(...))
    summary = await TypedCall(model, system="Summarize.", output_type=str)("long text")
    call = TypedCall.from_files("prompts/classify", input_type=Ticket, output_type=Verdict)

The input is formatted by a `RequestFormatter` and the reply read by a `ResponseParser`, both chosen
from the types unless given (envsim.models.formatters / parsers). Two retry policies, per call:

- `network`: re-sends a request that failed with a retryable model error (rate limit, 5xx, dropped
  connection), with exponential backoff; `from_files` makes it the policy of the model stack it builds
  (so it is the one network retry layer). Given a ready `ChatModel`, the call wraps it in this policy,
  on top of whatever retry that model already has. None leaves network retries to the model.
- `validation`: re-asks, showing the model what was wrong, when a reply does not parse or validate;
  optionally waits between re-asks (backoff) and stops after a total time.

All calls go through `ChatModel.generate`, so a model built by `build_model_stack` keeps its response
cache, rate limits, circuit breaker and usage accounting.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from envsim.errors import DataError, OutputValidationError
from envsim.messages import Message
from envsim.models.base import ChatModel, GenerationParams, ModelRequest, ModelResponse, RequestContext, Usage
from envsim.models.formatters import RequestFormatter, formatter_for, formatter_named
from envsim.models.parsers import (
    ReplyParseError,
    ResponseParser,
    SchemaParser,
    TextParser,
    explain_validation,
    parser_for,
    parser_named,
)
from envsim.models.retry import RetryingModel, RetryPolicy
from envsim.models.structured import StructuredResult

In = TypeVar("In")
Out = TypeVar("Out")
Sleep = Callable[[float], Awaitable[None]]
TYPED_CALL_ROLE = "typed_call"


# ---------------------------------------------------------------------------------------------- policies


@dataclass(frozen=True)
class ValidationRetryPolicy:
    """How often to re-ask after an unusable reply. `max_attempts` counts the first ask; the wait before
    re-ask n (n >= 1) is min(max_delay, initial_delay * multiplier**(n-1)) (0 by default: at once);
    `stop_after_delay` gives up once that many seconds have passed since the first ask."""

    max_attempts: int = 3
    initial_delay: float = 0.0
    max_delay: float = 10.0
    multiplier: float = 2.0
    stop_after_delay: float | None = None

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("ValidationRetryPolicy.max_attempts must be >= 1 (it counts the first ask)")
        if self.initial_delay < 0 or self.max_delay < 0 or self.multiplier < 1:
            raise ValueError("ValidationRetryPolicy needs initial_delay >= 0, max_delay >= 0 and multiplier >= 1")

    def delay(self, failures: int) -> float:
        return min(self.max_delay, self.initial_delay * self.multiplier ** (failures - 1))


@dataclass(frozen=True)
class CallRetryPolicy:
    network: RetryPolicy | None = None
    validation: ValidationRetryPolicy = field(default_factory=ValidationRetryPolicy)


# ---------------------------------------------------------------------------------------------- the ask loop


async def ask_typed(
    model: ChatModel,
    messages: list[Message],
    parser: ResponseParser[Out],
    *,
    params: GenerationParams | None = None,
    context: RequestContext | None = None,
    validation: ValidationRetryPolicy | None = None,
    sleep: Sleep = asyncio.sleep,
) -> StructuredResult[Out]:
    """Send `messages` (the parser's reply instructions appended to the last user message) until the
    reply parses; raises `OutputValidationError` when the validation policy gives up. Model errors
    pass through (after whatever network retry `model` has)."""
    policy = validation or ValidationRetryPolicy()
    conversation = _with_instructions(messages, parser.instructions())
    context = context or RequestContext()
    responses: list[ModelResponse] = []
    usage = Usage()
    problem = ""
    started = time.monotonic()
    attempt = 0
    while True:
        attempt += 1
        request = ModelRequest(
            messages=list(conversation),
            response_schema=parser.response_schema(),
            response_schema_name=parser.schema_name,
            params=params or GenerationParams(),
            context=context.model_copy(update={"attempt": attempt}),
        )
        response = await model.generate(request)
        responses.append(response)
        usage = usage + response.usage
        try:
            value = parser.parse(response.text)
        except ReplyParseError as exc:
            problem = str(exc)
        else:
            return StructuredResult(value=value, attempts=attempt, usage=usage, responses=responses)
        wait = policy.delay(attempt)
        limit = policy.stop_after_delay
        out_of_time = limit is not None and time.monotonic() - started + wait > limit
        if attempt >= policy.max_attempts or out_of_time:
            break
        # The bad reply goes back as text only: a tool call would need a tool result before the next turn.
        conversation = [
            *conversation,
            Message.assistant(response.text or "(no text)"),
            Message.user(f"Your reply could not be used: {problem}\nReply again, fixing exactly that."),
        ]
        if wait > 0:
            await sleep(wait)
    raise TypedOutputError(
        f"{model.name} did not produce a valid {parser.schema_name} ({parser.name}) in {attempt} attempt(s); "
        f"last problem: {problem}",
        attempts=attempt,
        last_reply=responses[-1].text if responses else None,
        problem=problem,
    )


class TypedOutputError(OutputValidationError):
    """No usable reply within the validation policy; `problem` is what was wrong with the last one."""

    def __init__(self, message: str, *, attempts: int, last_reply: str | None, problem: str) -> None:
        self.problem = problem
        super().__init__(message, attempts=attempts, last_reply=last_reply)


def _with_instructions(messages: list[Message], instructions: str) -> list[Message]:
    if not instructions:
        return list(messages)
    if messages and messages[-1].role == "user":
        last = messages[-1]
        return [*messages[:-1], Message.user(f"{last.content or ''}\n\n{instructions}")]
    return [*messages, Message.user(instructions)]


# ---------------------------------------------------------------------------------------------- the call


class TypedCall(Generic[In, Out]):
    def __init__(
        self,
        model: ChatModel,
        *,
        output_type: type[Out],
        input_type: type[In] | None = None,
        system: str | None = None,
        formatter: RequestFormatter | None = None,
        parser: ResponseParser[Out] | None = None,
        params: GenerationParams | None = None,
        retry: CallRetryPolicy | None = None,
        role: str = TYPED_CALL_ROLE,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.retry = retry or CallRetryPolicy()
        self.model = RetryingModel(model, self.retry.network, sleep=sleep) if self.retry.network else model
        self.output_type = output_type
        self.input_type = input_type
        self.system = system
        self.formatter = formatter or formatter_for(input_type)
        self.parser: ResponseParser[Out] = parser or parser_for(output_type)
        self.params = params or GenerationParams()
        self.role = role
        self._sleep = sleep

    async def __call__(self, input: In, *, context: RequestContext | None = None) -> Out:
        return (await self.run(input, context=context)).value

    async def run(self, input: In, *, context: RequestContext | None = None) -> StructuredResult[Out]:
        """The value plus the attempts, summed usage and every response (for a recorder)."""
        formatter = self.formatter
        if self.input_type is None and isinstance(input, str):
            formatter = formatter_named("text")  # no declared type: a str is plain text, not a JSON string
        messages = [Message.system(self.system)] if self.system else []
        messages.append(Message.user(formatter.format(input)))
        context = context or RequestContext(role=self.role)
        if context.role is None:
            context = context.model_copy(update={"role": self.role})
        return await ask_typed(
            self.model,
            messages,
            self.parser,
            params=self.params,
            context=context,
            validation=self.retry.validation,
            sleep=self._sleep,
        )

    @classmethod
    def from_files(
        cls,
        path: str | Path,
        *,
        output_type: type[Any] | None = None,
        input_type: type[Any] | None = None,
        model: ChatModel | str | None = None,
        policies: Any | None = None,
        base_dir: str | Path | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> TypedCall[Any, Any]:
        """`<path>.txt` is the system message, `<path>.json` the call's parameters (see `CallFile`),
        including `model`, a model string built into a full model stack (`policies`: a shared
        `ModelPolicies`, e.g. a run's). `model=` overrides the file's model. Without `output_type`, the
        file's `output_schema` (a JSON Schema) is the output; with neither, the output is text."""
        system, spec, json_file = read_call_files(path)
        network = spec.retry.network.to_network_policy() if spec.retry and spec.retry.network else None
        validation = spec.retry.validation.to_validation_policy() if spec.retry and spec.retry.validation else None
        chosen: ChatModel | str | None = model if model is not None else spec.model
        if chosen is None:
            raise DataError(
                f"{json_file}: no model for this call",
                hint='add "model": "provider:model" (e.g. "openai:gpt-4o-mini") to the file, or pass model=',
            )
        if isinstance(chosen, ChatModel):
            built = chosen
        else:
            built = _build_stack(chosen, policies, network, base_dir, json_file)
            network = None  # the stack just built retries with it already: one layer, not two
        resolved_output, parser = _output(spec, output_type, json_file)
        formatter = formatter_for(input_type) if spec.input_format == "auto" else formatter_named(spec.input_format)
        return cls(
            built,
            output_type=resolved_output,
            input_type=input_type,
            system=system,
            formatter=formatter,
            parser=parser,
            params=spec.generation_params(),
            retry=CallRetryPolicy(network=network, validation=validation or ValidationRetryPolicy()),
            sleep=sleep,
        )


def _build_stack(
    model: str, policies: Any | None, network: RetryPolicy | None, base_dir: str | Path | None, json_file: Path
) -> ChatModel:
    from envsim.models.stack import ModelPolicies, build_model_stack

    chosen = policies if policies is not None else ModelPolicies()
    if network is not None:
        chosen = dataclasses.replace(chosen, retry=network)
    root = base_dir if base_dir is not None else json_file.parent
    return build_model_stack(model, policies=chosen, base_dir=root, location=f"{json_file}: model")


def _output(spec: CallFile, output_type: type[Any] | None, json_file: Path) -> tuple[type[Any], ResponseParser[Any]]:
    if output_type is None:
        if spec.output_schema is not None:
            try:
                return dict, SchemaParser(spec.output_schema)
            except Exception as exc:  # jsonschema.SchemaError
                raise DataError(f"{json_file}: output_schema is not a valid JSON Schema: {exc}") from exc
        if spec.output_format not in ("auto", "text"):
            raise DataError(
                f"{json_file}: output_format {spec.output_format!r} needs an output type or an output_schema",
                hint="pass output_type= to from_files, add output_schema, or use output_format: text",
            )
        return str, TextParser()
    if spec.output_format == "auto":
        return output_type, parser_for(output_type)
    try:
        return output_type, parser_named(spec.output_format, output_type)
    except TypeError as exc:
        raise DataError(f"{json_file}: output_format {spec.output_format!r}: {exc}") from exc


# ---------------------------------------------------------------------------------------------- the files


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RetrySettings(_Strict):
    """One retry policy in a call file; unset keys keep the policy's defaults."""

    max_attempts: int | None = Field(default=None, ge=1)
    initial_delay: float | None = Field(default=None, ge=0)
    max_delay: float | None = Field(default=None, ge=0)
    multiplier: float | None = Field(default=None, ge=1)
    jitter: bool | None = None  # network only
    stop_after_delay: float | None = Field(default=None, gt=0)  # validation only

    def _set(self, *names: str) -> dict[str, Any]:
        return {n: getattr(self, n) for n in names if getattr(self, n) is not None}

    def to_network_policy(self) -> RetryPolicy:
        if self.stop_after_delay is not None:
            raise DataError("retry.network.stop_after_delay is not supported", hint="use max_attempts and max_delay")
        return RetryPolicy(**self._set("max_attempts", "initial_delay", "max_delay", "multiplier", "jitter"))

    def to_validation_policy(self) -> ValidationRetryPolicy:
        if self.jitter is not None:
            raise DataError("retry.validation.jitter is not supported", hint="remove it (validation waits are exact)")
        return ValidationRetryPolicy(
            **self._set("max_attempts", "initial_delay", "max_delay", "multiplier", "stop_after_delay")
        )


class RetrySection(_Strict):
    network: RetrySettings | None = None
    validation: RetrySettings | None = None


FormatChoice = Literal["auto", "json", "xml", "text"]


class CallFile(_Strict):
    """`<path>.json` of a typed call. Every key is optional."""

    model: str | None = None  # "provider:model[@base_url]"
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    seed: int | None = None
    stop: list[str] | None = None
    input_format: FormatChoice = "auto"
    output_format: FormatChoice = "auto"
    output_schema: dict[str, Any] | None = None
    retry: RetrySection | None = None

    def generation_params(self) -> GenerationParams:
        return GenerationParams(
            temperature=self.temperature, top_p=self.top_p, max_tokens=self.max_tokens, seed=self.seed, stop=self.stop
        )


def read_call_files(path: str | Path) -> tuple[str | None, CallFile, Path]:
    """(system message or None, parameters, the .json path). Either file may be missing, not both."""
    base = Path(path)
    if base.suffix in (".txt", ".json"):
        base = base.with_suffix("")
    text_file, json_file = base.with_name(base.name + ".txt"), base.with_name(base.name + ".json")
    if not text_file.exists() and not json_file.exists():
        raise DataError(
            f"no typed-call files at {base}: expected {text_file.name} and/or {json_file.name}",
            hint="write the system message to <path>.txt and the parameters (with model) to <path>.json",
        )
    system = text_file.read_text(encoding="utf-8").strip() or None if text_file.exists() else None
    if not json_file.exists():
        return system, CallFile(), json_file
    try:
        raw = json.loads(json_file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"cannot read call parameters {json_file}: {exc}") from exc
    try:
        return system, CallFile.model_validate(raw), json_file
    except ValidationError as exc:
        raise DataError(
            f"{json_file}: bad call parameters:\n{explain_validation(exc)}",
            hint=f"allowed keys: {', '.join(CallFile.model_fields)}",
        ) from exc


async def typed_structured_call(
    model: ChatModel,
    system: str | None,
    input: Any,
    output_type: type[Any],
    context: RequestContext | None,
    params: GenerationParams | None,
    input_format: FormatChoice,
    max_validation_attempts: int,
) -> StructuredResult[Any]:
    """`structured_call` for output types that are not pydantic models (str -> plain text, others JSON)."""
    call: TypedCall[Any, Any] = TypedCall(
        model,
        output_type=output_type,
        system=system,
        formatter=None if input_format == "auto" else formatter_named(input_format),
        params=params,
        retry=CallRetryPolicy(validation=ValidationRetryPolicy(max_attempts=max_validation_attempts)),
    )
    return await call.run(input, context=context)

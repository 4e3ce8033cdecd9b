"""Structured calls: typed input in, validated typed output out.

`structured_call` formats the input into the prompt, asks for a reply matching the output type's JSON
schema (providers use their JSON-schema mode where they have one), extracts JSON tolerantly and
validates it. An unusable reply is re-asked with the validation error shown to the model; this budget
(`max_validation_attempts`) is separate from the network retry policy, which lives in the model stack.

Input formats ("auto" picks by type): a str is sent as plain text; a pydantic model whose fields are all
scalars and which carries long or multi-line text is sent as XML (one element per field, easy for a
model to quote from); everything else (nested models, dicts, lists) as indented JSON.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

import jsonschema
from pydantic import BaseModel, ValidationError

from envsim.errors import DataError, OutputValidationError
from envsim.messages import Message
from envsim.models.base import ChatModel, GenerationParams, ModelRequest, ModelResponse, RequestContext, Usage
from envsim.models.formatters import TextFormatter, xml_element
from envsim.models.json_extract import JSONExtractionError, extract_json
from envsim.models.truncation import CUT_OFF_HINT

T = TypeVar("T", bound=BaseModel)
InputFormat = Literal["auto", "json", "xml", "text"]
_TEXT_HEAVY_CHARS = 200  # a field this long (or multi-line) makes a flat model "text-heavy"


@dataclass
class StructuredResult(Generic[T]):
    value: T
    attempts: int  # validation attempts used (1 = the first reply was valid)
    usage: Usage  # summed over every attempt
    responses: list[ModelResponse] = field(default_factory=list)  # one per attempt, for the recorder


# ---------------------------------------------------------------------------------------------- input


def format_input(value: BaseModel | str | Mapping[str, Any], input_format: InputFormat = "auto") -> str:
    if input_format == "auto":
        input_format = _auto_format(value)
    if isinstance(value, str):
        return value if input_format == "text" else _format_data(value, input_format)
    data = value.model_dump(mode="json") if isinstance(value, BaseModel) else dict(value)
    return _format_data(data, input_format)


def _auto_format(value: Any) -> InputFormat:
    if isinstance(value, str):
        return "text"
    if isinstance(value, BaseModel):
        data = value.model_dump(mode="json")
        flat = all(v is None or isinstance(v, str | int | float | bool) for v in data.values())
        text_heavy = any(isinstance(v, str) and (len(v) >= _TEXT_HEAVY_CHARS or "\n" in v) for v in data.values())
        if flat and text_heavy:
            return "xml"
    return "json"


def _format_data(data: Any, input_format: InputFormat) -> str:
    # The typed call's formatters (envsim.models.formatters) are the one implementation of each format.
    if input_format == "xml":
        if isinstance(data, dict):
            return "\n".join(xml_element(str(k), v) for k, v in data.items())
        return xml_element("input", data)
    if input_format == "text":
        return TextFormatter().format(data)
    return json.dumps(data, ensure_ascii=False, indent=2)


# ---------------------------------------------------------------------------------------------- call


async def structured_call(
    model: ChatModel,
    *,
    system: str | None,
    input: BaseModel | str | Mapping[str, Any],
    output_type: type[T],
    context: RequestContext | None = None,
    params: GenerationParams | None = None,
    input_format: InputFormat = "auto",
    max_validation_attempts: int = 3,
) -> StructuredResult[T]:
    """Ask `model` for an `output_type`; raises `OutputValidationError` when every attempt's reply is
    unusable, and lets `ModelError`s (after the stack's network retries) through."""
    if not (isinstance(output_type, type) and issubclass(output_type, BaseModel)):
        # str, list[...], dict[...]: a typed call picks the parser for the type (text for str)
        from envsim.models.typed_call import typed_structured_call

        return await typed_structured_call(
            model, system, input, output_type, context, params, input_format, max_validation_attempts
        )

    def parse(value: Any) -> T:
        return output_type.model_validate(value)

    return await _ask(
        model,
        system=system,
        prompt=format_input(input, input_format),
        schema=output_type.model_json_schema(),
        schema_name=output_type.__name__,
        parse=parse,
        context=context,
        params=params,
        max_validation_attempts=max_validation_attempts,
    )


async def _ask(
    model: ChatModel,
    *,
    system: str | None,
    prompt: str,
    schema: dict[str, Any],
    schema_name: str,
    parse: Callable[[Any], Any],
    context: RequestContext | None,
    params: GenerationParams | None,
    max_validation_attempts: int,
) -> StructuredResult[Any]:
    if max_validation_attempts < 1:
        raise ValueError("max_validation_attempts must be >= 1")
    schema_text = json.dumps(schema, ensure_ascii=False)
    # The schema also goes in the prompt: not every endpoint has a JSON-schema mode.
    messages = [Message.system(system)] if system else []
    messages.append(Message.user(f"{prompt}\n\nReply with only a JSON value matching this JSON Schema:\n{schema_text}"))
    responses: list[ModelResponse] = []
    usage = Usage()
    problem = ""
    for attempt in range(1, max_validation_attempts + 1):
        request = ModelRequest(
            messages=list(messages),
            response_schema=schema,
            response_schema_name=schema_name,
            params=params or GenerationParams(),
            context=(context or RequestContext()).model_copy(update={"attempt": attempt}),
        )
        response = await model.generate(request)
        responses.append(response)
        usage = usage + response.usage
        try:
            value = parse(_reply_json(response))
        except (JSONExtractionError, ValidationError, jsonschema.ValidationError, _NoText) as exc:
            problem = _explain(exc)
            if response.finish_reason == "length":
                problem = f"{CUT_OFF_HINT} ({problem})"
            # The bad reply is shown as text only: a tool call would need a tool result before the next turn.
            messages += [
                Message.assistant(response.text or "(no text)"),
                Message.user(
                    f"Your reply could not be used: {problem}\n"
                    "Reply again with only a JSON value that matches the schema, fixing exactly that."
                ),
            ]
            continue
        return StructuredResult(value=value, attempts=attempt, usage=usage, responses=responses)
    raise OutputValidationError(
        f"{model.name} did not produce a valid {schema_name} in {max_validation_attempts} attempt(s); "
        f"last problem: {problem}",
        attempts=max_validation_attempts,
        last_reply=responses[-1].text if responses else None,
    )


class _NoText(ValueError):
    pass


def _reply_json(response: ModelResponse) -> Any:
    if not response.text.strip():
        raise _NoText("the reply has no text; expected a JSON value")
    return extract_json(response.text)


def _explain(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        lines = []
        for err in exc.errors()[:10]:
            where = ".".join(str(p) for p in err["loc"]) or "(top level)"
            lines.append(f"- {where}: {err['msg']}")
        return "the JSON does not match the schema:\n" + "\n".join(lines)
    if isinstance(exc, jsonschema.ValidationError):
        where = "/".join(str(p) for p in exc.absolute_path) or "(top level)"
        return f"the JSON does not match the schema at {where}: {exc.message}"
    return str(exc)


# ---------------------------------------------------------------------------------------------- prompt files

_PARAM_KEYS = set(GenerationParams.model_fields)
_PROMPT_KEYS = {"output_schema", "input_format", "max_validation_attempts"}


@dataclass
class StructuredPrompt:
    """A prompt kept in two files: `<path>.txt` (the system message) and `<path>.json` (parameters).

    The JSON file is an object with any of: generation params (`temperature`, `top_p`, `max_tokens`,
    `seed`, `stop`), `output_schema` (a JSON Schema, used when the call gives no `output_type`),
    `input_format` ("auto" | "json" | "xml" | "text") and `max_validation_attempts`. Either file may be
    missing (not both); unknown keys are errors.
    """

    system: str | None = None
    params: GenerationParams = field(default_factory=GenerationParams)
    output_schema: dict[str, Any] | None = None
    input_format: InputFormat = "auto"
    max_validation_attempts: int = 3

    @classmethod
    def from_files(cls, path: str | Path) -> StructuredPrompt:
        base = Path(path)
        if base.suffix in (".txt", ".json"):
            base = base.with_suffix("")
        text_file, json_file = base.with_suffix(".txt"), base.with_suffix(".json")
        if not text_file.exists() and not json_file.exists():
            raise DataError(f"no prompt files at {base}: expected {text_file.name} and/or {json_file.name}")
        system = text_file.read_text(encoding="utf-8").strip() if text_file.exists() else None
        if not json_file.exists():
            return cls(system=system or None)
        try:
            data = json.loads(json_file.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise DataError(f"cannot read prompt parameters {json_file}: {exc}") from exc
        if not isinstance(data, dict):
            raise DataError(f"{json_file}: prompt parameters must be a JSON object")
        unknown = sorted(set(data) - _PARAM_KEYS - _PROMPT_KEYS)
        if unknown:
            raise DataError(
                f"{json_file}: unknown key(s) {unknown}",
                hint=f"allowed: {sorted(_PARAM_KEYS | _PROMPT_KEYS)}",
            )
        try:
            params = GenerationParams.model_validate({k: v for k, v in data.items() if k in _PARAM_KEYS})
        except ValidationError as exc:
            raise DataError(f"{json_file}: bad generation parameter: {_explain(exc)}") from exc
        schema = data.get("output_schema")
        if schema is not None:
            try:
                jsonschema.validators.validator_for(schema).check_schema(schema)
            except jsonschema.SchemaError as exc:
                raise DataError(f"{json_file}: output_schema is not a valid JSON Schema: {exc.message}") from exc
        input_format = data.get("input_format", "auto")
        if input_format not in ("auto", "json", "xml", "text"):
            raise DataError(f"{json_file}: input_format must be auto, json, xml or text, got {input_format!r}")
        attempts = data.get("max_validation_attempts", 3)
        if not isinstance(attempts, int) or isinstance(attempts, bool) or attempts < 1:
            raise DataError(f"{json_file}: max_validation_attempts must be an integer >= 1, got {attempts!r}")
        return cls(
            system=system or None,
            params=params,
            output_schema=schema,
            input_format=input_format,
            max_validation_attempts=attempts,
        )

    async def call(
        self,
        model: ChatModel,
        input: BaseModel | str | Mapping[str, Any],
        *,
        output_type: type[BaseModel] | None = None,
        context: RequestContext | None = None,
    ) -> StructuredResult[Any]:
        """With `output_type`, the value is that model; otherwise the JSON value checked against
        `output_schema`."""
        if output_type is not None:
            return await structured_call(
                model,
                system=self.system,
                input=input,
                output_type=output_type,
                context=context,
                params=self.params,
                input_format=self.input_format,
                max_validation_attempts=self.max_validation_attempts,
            )
        if self.output_schema is None:
            raise DataError("this prompt has no output_schema; pass output_type= or add one to its .json file")
        validator = jsonschema.validators.validator_for(self.output_schema)(self.output_schema)

        def parse(value: Any) -> Any:
            validator.validate(value)
            return value

        return await _ask(
            model,
            system=self.system,
            prompt=format_input(input, self.input_format),
            schema=self.output_schema,
            schema_name=str(self.output_schema.get("title") or "response"),
            parse=parse,
            context=context,
            params=self.params,
            max_validation_attempts=self.max_validation_attempts,
        )

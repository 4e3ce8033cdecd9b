"""Generated attributes: render the instruction messages, call the model, post-process the reply.

Text generation stores the reply text; with `output_schema` the reply must be JSON that validates
against the schema (re-asked with the validation error up to `max_validation_retries` times).
With `postprocessing_params`, the processed text goes under `postprocessing_params.id` and the raw
text stays under the attribute's own id when `keep_original_text_attribute` is true.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jsonschema

from envsim.config.models import GeneratedAttribute
from envsim.errors import OutputValidationError
from envsim.messages import Message
from envsim.models.base import ChatModel, GenerationParams, ModelRequest, RequestContext, Usage
from envsim.models.json_extract import JSONExtractionError, extract_json
from envsim.scenarios.postprocessing import postprocess
from envsim.templating import render

ATTRIBUTE_ROLE = "attribute"


@dataclass
class GeneratedValues:
    values: dict[str, Any]
    usage: Usage = field(default_factory=Usage)


def output_names(attribute: GeneratedAttribute) -> list[str]:
    """The attribute ids a generated attribute produces (what later templates may reference)."""
    params = attribute.postprocessing_params
    if params is None:
        return [attribute.id]
    names = [attribute.id] if params.keep_original_text_attribute and params.id != attribute.id else []
    return [*names, params.id]


def instruction_messages(attribute: GeneratedAttribute, values: Mapping[str, Any], location: str) -> list[Message]:
    return [
        Message(
            role=m.role.value.lower(),  # type: ignore[arg-type] - SYSTEM/USER/ASSISTANT map onto Role
            content=render(m.content, values, where=f"{location}.instruction_messages[{i}].content"),
        )
        for i, m in enumerate(attribute.instruction_messages)
    ]


async def generate_attribute(
    attribute: GeneratedAttribute,
    values: Mapping[str, Any],
    model: ChatModel,
    *,
    location: str,
    episode_id: str,
    params: GenerationParams | None = None,
    max_validation_retries: int = 3,
) -> GeneratedValues:
    messages = instruction_messages(attribute, values, location)
    context = RequestContext(episode_id=episode_id, role=ATTRIBUTE_ROLE)
    params = params or GenerationParams()
    if attribute.output_schema is not None:
        return await _structured(attribute, messages, model, context, params, max_validation_retries)
    response = await model.generate(ModelRequest(messages=messages, params=params, context=context))
    raw = response.text
    result = GeneratedValues(values={}, usage=response.usage)
    pp = attribute.postprocessing_params
    if pp is None:
        result.values[attribute.id] = raw
        return result
    if pp.keep_original_text_attribute:
        result.values[attribute.id] = raw
    result.values[pp.id] = postprocess(raw, pp, attribute_id=attribute.id)
    return result


async def _structured(
    attribute: GeneratedAttribute,
    messages: list[Message],
    model: ChatModel,
    context: RequestContext,
    params: GenerationParams,
    max_validation_retries: int,
) -> GeneratedValues:
    schema = attribute.output_schema or {}
    usage = Usage()
    conversation = _with_schema_instruction(messages, schema)
    problem = ""
    reply = ""
    for attempt in range(1, max_validation_retries + 2):
        request = ModelRequest(
            messages=conversation,
            response_schema=schema,
            response_schema_name=attribute.id,
            params=params,
            context=context.model_copy(update={"attempt": attempt}),
        )
        response = await model.generate(request)
        usage = usage + response.usage
        reply = response.text
        problem = _schema_problem(reply, schema)
        if not problem:
            return GeneratedValues(values={attribute.id: extract_json(reply)}, usage=usage)
        conversation = [
            *conversation,
            Message.assistant(reply),
            Message.user(f"Your reply was not valid: {problem}. Reply again with only the corrected JSON."),
        ]
    raise OutputValidationError(
        f"generated attribute {attribute.id!r}: no reply matched its output_schema after "
        f"{max_validation_retries + 1} attempt(s); last problem: {problem}",
        attempts=max_validation_retries + 1,
        last_reply=reply,
    )


def _with_schema_instruction(messages: list[Message], schema: dict[str, Any]) -> list[Message]:
    # The schema also goes in the prompt: not every endpoint has a JSON-schema mode.
    instruction = f"Reply with only a JSON value matching this JSON Schema:\n{json.dumps(schema, ensure_ascii=False)}"
    if messages and messages[-1].role == "user":
        last = messages[-1]
        return [*messages[:-1], Message.user(f"{last.content or ''}\n\n{instruction}")]
    return [*messages, Message.user(instruction)]


def _schema_problem(reply: str, schema: dict[str, Any]) -> str:
    try:
        value = extract_json(reply)
    except JSONExtractionError as exc:
        return str(exc)
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(value))
    if error is None:
        return ""
    where = "/".join(str(p) for p in error.absolute_path) or "(root)"
    return f"at {where}: {error.message}"

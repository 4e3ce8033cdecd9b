"""Generated attributes: render the instruction messages, call the model, post-process the reply.

Text generation stores the reply text; with `output_schema` the reply must be JSON that validates
against the schema (re-asked with the validation error up to `max_validation_retries` times).
With `postprocessing_params`, the processed text goes under `postprocessing_params.id` and the raw
text stays under the attribute's own id when `keep_original_text_attribute` is true.

A text reply cut off at the token limit (`finish_reason: "length"`) is kept and its attribute id listed in
`GeneratedValues.truncated` (the trace's `truncated_attributes`), or, with `on_truncation: reject`, fails
the sample. A structured reply that was cut off is asked again with a larger limit by the model stack.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from envsim.attributes.postprocessing import postprocess
from envsim.config.models import GeneratedAttribute
from envsim.errors import OutputValidationError
from envsim.messages import Message
from envsim.models.base import ChatModel, GenerationParams, ModelRequest, RequestContext, Usage
from envsim.models.parsers import SchemaParser
from envsim.models.truncation import CUT_OFF_HINT
from envsim.models.typed_call import TypedOutputError, ValidationRetryPolicy, ask_typed
from envsim.templating import render

ATTRIBUTE_ROLE = "attribute"


@dataclass
class GeneratedValues:
    values: dict[str, Any]
    usage: Usage = field(default_factory=Usage)
    truncated: list[str] = field(default_factory=list)  # attribute ids whose reply was cut off


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
    if response.finish_reason == "length":
        if attribute.on_truncation == "reject":
            raise OutputValidationError(
                f"generated attribute {attribute.id!r} ({location}): {CUT_OFF_HINT}, "
                "or set its on_truncation: flag to keep cut-off text",
                attempts=1,
                last_reply=raw,
            )
        result.truncated.append(attribute.id)
    pp = attribute.postprocessing_params
    if pp is None:
        result.values[attribute.id] = raw
        return result
    if pp.keep_original_text_attribute:
        result.values[attribute.id] = raw
    result.values[pp.id] = postprocess(raw, pp)
    return result


async def _structured(
    attribute: GeneratedAttribute,
    messages: list[Message],
    model: ChatModel,
    context: RequestContext,
    params: GenerationParams,
    max_validation_retries: int,
) -> GeneratedValues:
    # A typed call with the schema as its parser: the schema goes in the prompt and the JSON-schema mode,
    # an invalid reply is re-asked with the problem shown.
    parser = SchemaParser(attribute.output_schema or {}, name=attribute.id)
    validation = ValidationRetryPolicy(max_attempts=max_validation_retries + 1)
    try:
        result = await ask_typed(model, messages, parser, params=params, context=context, validation=validation)
    except TypedOutputError as exc:
        raise OutputValidationError(
            f"generated attribute {attribute.id!r}: no reply matched its output_schema after "
            f"{exc.attempts} attempt(s); last problem: {exc.problem}",
            attempts=exc.attempts,
            last_reply=exc.last_reply,
        ) from None
    return GeneratedValues(values={attribute.id: result.value}, usage=result.usage)

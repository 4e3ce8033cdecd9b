"""Transformed attributes: new values built from templates over the attributes computed so far.

STRING -> a string; LIST -> a list of strings; DICT -> a dict of strings (keys are literal);
CHAT -> a conversation value `{"messages": [{"role": "system"|"user"|"assistant", "content": ...}]}`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from envsim.config.models import TransformationType, TransformedAttribute
from envsim.templating import render


def transform_templates(attribute: TransformedAttribute, location: str) -> Iterator[tuple[str, str]]:
    """(location, template) for every template of the transform's type (missing ones yield nothing)."""
    strategy = attribute.transformation_strategy
    base = f"{location}.transformation_strategy"
    if strategy.type is TransformationType.STRING and strategy.string_transform is not None:
        yield f"{base}.string_transform", strategy.string_transform
    elif strategy.type is TransformationType.LIST and strategy.list_transform is not None:
        for i, template in enumerate(strategy.list_transform):
            yield f"{base}.list_transform[{i}]", template
    elif strategy.type is TransformationType.DICT and strategy.dict_transform is not None:
        for key, template in strategy.dict_transform.items():
            yield f"{base}.dict_transform.{key}", template
    elif strategy.type is TransformationType.CHAT and strategy.chat_transform is not None:
        for i, message in enumerate(strategy.chat_transform):
            yield f"{base}.chat_transform[{i}].content", message.content


def missing_template_field(attribute: TransformedAttribute) -> str | None:
    """The `*_transform` field the transform's type needs but does not have, if any."""
    strategy = attribute.transformation_strategy
    field = f"{strategy.type.value.lower()}_transform"
    return field if getattr(strategy, field) is None else None


def apply_transform(attribute: TransformedAttribute, values: Mapping[str, Any], location: str) -> Any:
    strategy = attribute.transformation_strategy
    base = f"{location}.transformation_strategy"
    if strategy.type is TransformationType.STRING:
        return render(strategy.string_transform or "", values, where=f"{base}.string_transform")
    if strategy.type is TransformationType.LIST:
        return [
            render(t, values, where=f"{base}.list_transform[{i}]") for i, t in enumerate(strategy.list_transform or [])
        ]
    if strategy.type is TransformationType.DICT:
        return {
            key: render(t, values, where=f"{base}.dict_transform.{key}")
            for key, t in (strategy.dict_transform or {}).items()
        }
    messages = []
    for i, message in enumerate(strategy.chat_transform or []):
        content = render(message.content, values, where=f"{base}.chat_transform[{i}].content")
        messages.append({"role": message.role.value.lower(), "content": content})
    return {"messages": messages}

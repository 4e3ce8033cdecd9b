"""Transformed attributes: new values built from templates over the attributes computed so far.

STRING -> a string; LIST -> a list of strings; DICT -> a dict of strings (keys are literal);
CHAT -> a conversation value in oumi's shape: `{"messages": [{"role": "system"|"user"|"assistant",
"content": ...}], "conversation_id": ..., "metadata": {...}}`. oumi draws a random uuid for the id; envsim
derives it from the attribute id and the rendered conversation, so the same sample gives the same bytes.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from typing import Any

from envsim.canonical import stable_hash
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
        for i, message in enumerate(strategy.chat_transform.messages):
            yield f"{base}.chat_transform[{i}].content", message.content
        for key, template in (strategy.chat_transform.metadata or {}).items():
            yield f"{base}.chat_transform.metadata.{key}", template


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
    chat = strategy.chat_transform
    messages = []
    for i, message in enumerate(chat.messages if chat else []):
        content = render(message.content, values, where=f"{base}.chat_transform[{i}].content")
        messages.append({"role": message.role.value.lower(), "content": content})
    metadata = {
        key: render(t, values, where=f"{base}.chat_transform.metadata.{key}")
        for key, t in ((chat.metadata if chat else None) or {}).items()
    }
    conversation_id = chat.conversation_id if chat and chat.conversation_id else None
    if conversation_id is None:
        digest = stable_hash(["chat_transform", attribute.id, messages, metadata])
        conversation_id = f"{attribute.id}-{uuid.UUID(digest[:32])}"
    return {"messages": messages, "conversation_id": conversation_id, "metadata": metadata}

"""Transformed attributes: STRING, LIST, DICT and CHAT."""

from __future__ import annotations

from typing import Any

from envsim.attributes.sampling import SampledValue
from envsim.attributes.transforms import apply_transform, missing_template_field
from envsim.config.models import TransformedAttribute

VALUES = {"tone": SampledValue("tone", "Tone", "", "calm", "Calm", "slow"), "q": "Where is it?"}


def transform(strategy: dict[str, Any]) -> Any:
    attr = TransformedAttribute.model_validate({"id": "t", "transformation_strategy": strategy})
    return apply_transform(attr, VALUES, "strategy_params.transformed_attributes[0]")


def test_string() -> None:
    assert transform({"type": "STRING", "string_transform": "{tone}: {q}"}) == "Calm: Where is it?"


def test_list() -> None:
    assert transform({"type": "LIST", "list_transform": ["{tone}", "{q}", "lit"]}) == ["Calm", "Where is it?", "lit"]


def test_dict() -> None:
    result = transform({"type": "DICT", "dict_transform": {"style": "{tone.description}", "{q}": "{q}"}})
    assert result == {"style": "slow", "{q}": "Where is it?"}  # keys are literal


def test_chat() -> None:
    result = transform(
        {
            "type": "CHAT",
            "chat_transform": [
                {"role": "SYSTEM", "content": "Be {tone}."},
                {"role": "USER", "content": "{q}"},
                {"role": "ASSISTANT", "content": "On its way."},
            ],
        }
    )
    # oumi's shape: messages, a conversation id "<attribute id>-<uuid>" and the (rendered) metadata
    assert result["messages"] == [
        {"role": "system", "content": "Be Calm."},
        {"role": "user", "content": "Where is it?"},
        {"role": "assistant", "content": "On its way."},
    ]
    assert result["conversation_id"].startswith("t-") and len(result["conversation_id"]) == len("t-") + 36
    assert result["metadata"] == {}


def test_chat_in_oumi_spelling_with_metadata_and_id() -> None:
    strategy = {
        "type": "chat",
        "chat_transform": {
            "messages": [{"role": "user", "content": "{q}"}],
            "conversation_id": "fixed",
            "metadata": {"tone": "{tone}"},
        },
    }
    result = transform(strategy)
    assert result == {
        "messages": [{"role": "user", "content": "Where is it?"}],
        "conversation_id": "fixed",
        "metadata": {"tone": "Calm"},
    }


def test_chat_ids_are_reproducible() -> None:
    strategy = {"type": "CHAT", "chat_transform": {"messages": [{"role": "USER", "content": "{q}"}]}}
    assert transform(strategy)["conversation_id"] == transform(strategy)["conversation_id"]


def test_missing_template_field_is_reported() -> None:
    attr = TransformedAttribute.model_validate({"id": "t", "transformation_strategy": {"type": "LIST"}})
    assert missing_template_field(attr) == "list_transform"

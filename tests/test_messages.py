import json

import pytest

from envsim.messages import Message, ToolCall, ToolSpec, tool_result_content


def test_message_round_trips_through_json() -> None:
    call = ToolCall.make("get_order", {"order_id": "A1"}, id="call_1")
    msg = Message.assistant("checking", [call])
    again = Message.model_validate_json(msg.model_dump_json())
    assert again == msg
    assert again.to_openai()["tool_calls"][0]["function"]["arguments"] == '{"order_id": "A1"}'


def test_parsed_arguments_reports_malformed_json() -> None:
    bad = ToolCall.make("f", '{"a": ', id="x")
    with pytest.raises(ValueError, match="not valid JSON"):
        bad.parsed_arguments()
    with pytest.raises(ValueError, match="must be a JSON object"):
        ToolCall.make("f", "[1]").parsed_arguments()


def test_tool_spec_openai_shape_hides_envsim_facts() -> None:
    spec = ToolSpec(name="t", description="d", read_only=True, output_schema={"type": "object"})
    assert spec.to_openai() == {
        "type": "function",
        "function": {"name": "t", "description": "d", "parameters": {"type": "object", "properties": {}}},
    }


def test_tool_result_content() -> None:
    assert json.loads(tool_result_content(None, "boom")) == {"error": "boom"}
    assert json.loads(tool_result_content({"a": 1}, None)) == {"a": 1}

"""oumi's `{current_turn}` and `{target_turns}`, with oumi's meaning, in the prompts actually sent to the
model: target_turns counts messages (user + assistant), current_turn numbers them (the user writes 1, 3,
..., the assistant 2, 4, ...), role instructions are rendered per turn, texts rendered once see turn 1.
The names are reserved, as in oumi."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from config_helpers import MODEL, config_errors
from conftest import WriteFile

from envsim.api import run_config
from envsim.config.loader import load_config
from envsim.config.summary import build_summary
from envsim.models.base import ModelRequest
from envsim.simulation.runtime_placeholders import TurnText
from envsim.testing import FakeModelServer

CONVERSATION = """
num_samples: 1
environment_config:
  environments:
    - id: shop
      type: deterministic
      tools:
        - id: find_order
          description: Find an order.
          parameters: {type: object, properties: {order_id: {type: string}}}
          default_output: {status: shipped}
strategy_params:
  multiturn_attributes:
    - id: chat
      min_turns: 2
      max_turns: 2
      role_instruction_messages:
        USER: "User persona, turn {current_turn} of {target_turns}."
        ASSISTANT: "Agent persona, turn {current_turn} of {target_turns}."
      conversation_planner: "Plan {target_turns} messages."
      output_system_prompt: "You help in {target_turns}-message chats."
"""
TURN = re.compile(r"(User|Agent) persona, turn (\d+) of (\d+)\.")


def system_text(request: ModelRequest) -> str:
    return "\n".join(m.content or "" for m in request.messages if m.role == "system")


async def test_each_turn_is_prompted_with_its_number(
    write: WriteFile, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    config = write("chat.yaml", CONVERSATION, MODEL)
    output = tmp_path / "out.jsonl"
    async with FakeModelServer() as server:  # the mock behind it calls one tool per assistant turn
        summary = await run_config(
            config,
            out_dir=tmp_path / "run",
            model_override=f"openai:gpt-4o-mini@{server.openai_base_url}",
            overrides=[f"output_path={output}"],
            no_cache=True,
        )
        requests = server.requests
    assert summary.ok and summary.done == 1, summary.recent_errors

    planner = [r for r in requests if r.response_schema is not None]
    turns = [r for r in requests if r.response_schema is None]
    assert len(planner) == 1
    # The planner sees the roles once, as turn 1 (oumi's rule for personas rendered once).
    planner_prompt = json.dumps([m.content for m in planner[0].messages])
    assert "Plan 4 messages." in planner_prompt
    assert "User persona, turn 1 of 4." in planner_prompt and "Agent persona, turn 1 of 4." in planner_prompt

    seen = [TURN.search(system_text(r)).groups() for r in turns]  # type: ignore[union-attr]
    # user turn 1; assistant turn 2 (a tool call, then its answer); user turn 3; assistant turn 4 (twice).
    assert seen == [
        ("User", "1", "4"),
        ("Agent", "2", "4"),
        ("Agent", "2", "4"),
        ("User", "3", "4"),
        ("Agent", "4", "4"),
        ("Agent", "4", "4"),
    ]
    assert [bool(r.tools) for r in turns] == [False, True, True, False, True, True]

    (row,) = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    messages = row["chat"]["messages"]
    assert messages[0] == {"role": "system", "content": "You help in 4-message chats."}
    assert not any("persona" in (m.get("content") or "") for m in messages)  # role-play stays out


def test_turn_text_fills_only_the_templates_own_placeholder() -> None:
    values = {"name": "Ann {current_turn}"}  # an attribute value is text, never a placeholder

    def render(template: str) -> str:
        return template.replace("{name}", values["name"]).replace("{{", "{").replace("}}", "}")

    text = TurnText.render(
        "{name}: turn {current_turn} of {target_turns}, {{current_turn}}", {"target_turns": "6"}, render
    )
    assert text.at(5) == "Ann {current_turn}: turn 5 of 6, {current_turn}"
    assert text.once == "Ann {current_turn}: turn 1 of 6, {current_turn}"
    assert (text + " Bye.").at(3).endswith("{current_turn} Bye.")


@pytest.mark.parametrize("reserved", ["current_turn", "target_turns"])
def test_an_attribute_cannot_take_a_reserved_name(write: WriteFile, reserved: str) -> None:
    path = write(
        "c.yaml",
        f"""
        strategy_params:
          generated_attributes:
            - id: {reserved}
              instruction_messages: [{{role: USER, content: Say a number.}}]
        """,
        MODEL,
    )
    (error,) = config_errors(path)
    assert error.location == "strategy_params.generated_attributes[0]"
    assert f"attribute ID '{reserved}' is reserved for multiturn synthesis" in error.message


def test_a_column_with_a_reserved_name_is_renamed_with_attribute_map(write: WriteFile) -> None:
    write("rows.jsonl", '{"current_turn": 3, "topic": "tea"}\n')
    path = write("c.yaml", "strategy_params:\n  input_data: [{path: rows.jsonl}]\n", MODEL)
    (error,) = config_errors(path)
    assert "'current_turn' is reserved" in error.message and "a column of" in error.message
    assert error.hint is not None and "attribute_map: {current_turn: another_name}" in error.hint
    renamed = write(
        "d.yaml", "strategy_params:\n  input_data: [{path: rows.jsonl, attribute_map: {current_turn: n}}]\n", MODEL
    )
    assert load_config(renamed).strategy_params.input_data[0].attribute_map == {"current_turn": "n"}


@pytest.mark.parametrize("key", ["conversation_planner", "output_system_prompt"])
def test_current_turn_in_a_text_rendered_once_is_an_error(write: WriteFile, key: str) -> None:
    path = write(
        "c.yaml",
        f"""
        strategy_params:
          multiturn_attributes:
            - id: chat
              role_instruction_messages: {{USER: u, ASSISTANT: a}}
              {key}: "Now at turn {{current_turn}}."
        """,
        MODEL,
    )
    (error,) = config_errors(path)
    assert error.location == f"strategy_params.multiturn_attributes[0].{key}"
    assert "filled per turn, in role_instruction_messages only" in error.message
    assert error.hint is not None and "{target_turns}" in error.hint


def test_turn_placeholders_outside_a_conversation_are_an_error(write: WriteFile) -> None:
    path = write(
        "c.yaml",
        """
        strategy_params:
          generated_attributes:
            - id: opening
              instruction_messages: [{role: USER, content: "Open a {target_turns}-turn chat."}]
        """,
        MODEL,
    )
    (error,) = config_errors(path)
    assert "{target_turns} is filled only in a multiturn attribute's texts" in error.message


def test_validate_names_what_envsim_does_with_current_turn(write: WriteFile) -> None:
    config = load_config(write("chat.yaml", CONVERSATION, MODEL))
    lines = [line for line in build_summary(config).oumi_differences if "{current_turn}" in line]
    assert lines == [
        "strategy_params.multiturn_attributes[0] (chat): {current_turn} in role_instruction_messages is filled "
        "per turn as in oumi; the planner sees the instructions as turn 1 (oumi's in-process planner fails on "
        "it: no value)"
    ]

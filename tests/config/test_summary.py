"""The summary `envsim validate` prints: environments, tools, state keys, attributes, models; no secrets."""

from __future__ import annotations

from config_helpers import MODEL, WriteFile
from rich.console import Console

from envsim.config.loader import load_config
from envsim.config.summary import build_summary, render_summary


def test_summary_data(write: WriteFile) -> None:
    path = write(
        "c.yaml",
        """
        environment_config:
          environments:
            - id: backend
              type: synthetic
              state_params:
                state_schema: {type: object, properties: {orders: {type: array}, users: {type: array}}}
                initial_state: {orders: []}
              tools: [{id: get_order, read_only: true}, {id: cancel_order}]
            - id: table
              type: deterministic
              tools: [{id: lookup, deterministic_outputs: [{input: {}, output: 1}]}]
        strategy_params:
          sampled_attributes: [{id: mood, possible_values: [{id: calm}, {id: angry}]}]
          multiturn_attributes:
            - {id: chat, min_turns: 1, max_turns: 3, role_instruction_messages: {USER: u, ASSISTANT: a},
               available_environments: [table]}
        inference_config:
          model: {model_name: gpt-4o-mini, engine: OPENAI, api_key: sk-secret, allow_api_key_in_config: true}
          roles:
            user: {model_name: "anthropic:claude-haiku-4-5", api_key_env: MY_KEY}
        """,
    )
    summary = build_summary(load_config(path))
    backend, table = summary.environments
    assert (backend.kind, backend.stateful, backend.state_keys) == ("synthetic", True, ["orders", "users"])
    assert [(t.id, t.read_only) for t in backend.tools] == [("get_order", True), ("cancel_order", False)]
    assert (table.kind, table.stateful, table.tools[0].entries) == ("deterministic", False, 1)
    assert [(a.id, a.kind, a.detail) for a in summary.attributes] == [("mood", "sampled", "calm, angry")]
    assert [(m.id, m.turns, m.environments, m.tools) for m in summary.multiturn] == [
        ("chat", "1-3", ["table"], ["lookup"])
    ]
    assert [(m.role, m.model) for m in summary.models] == [
        ("default", "gpt-4o-mini, engine OPENAI"),
        ("user", "anthropic:claude-haiku-4-5, key from $MY_KEY"),
    ]

    console = Console(record=True, width=120)
    console.print(render_summary(summary))
    text = console.export_text()
    assert "sk-secret" not in text
    assert "backend" in text and "cancel_order" in text and "get_order (ro)" in text
    assert "stateful" in text and "orders" in text


def test_summary_of_config_without_environments(write: WriteFile) -> None:
    summary = build_summary(load_config(write("c.yaml", "num_samples: 2\n", MODEL)))
    assert summary.environments == [] and summary.num_samples == 2
    console = Console(record=True, width=100)
    console.print(render_summary(summary))
    assert "no environments" in console.export_text()

"""oumi's `grounding`: facts sampled (seeded) from an environment's lookup table, state or database
table, given to the planner and to the user simulator."""

from __future__ import annotations

from pathlib import Path

import pytest
from config_helpers import WriteFile, config_errors

from envsim.api import run_config
from envsim.config.models import EnvironmentConfig
from envsim.errors import ConfigError
from envsim.simulation.grounding import Grounding, describe_facts, grounding_pools, sample_facts

LIBRARY = {
    "id": "library",
    "type": "deterministic",
    "grounding": {"sample_size": 2, "seed": 7, "tools": {"status": {"fields": ["book_id", "title", "state"]}}},
    "tools": [
        {
            "id": "status",
            "parameters": {"type": "object", "properties": {"book_id": {"type": "string"}}},
            "deterministic_outputs": [
                {"input": {"book_id": f"B{i}"}, "output": {"title": f"Book {i}", "state": "in", "shelf": i}}
                for i in range(5)
            ],
        }
    ],
}
PATIENTS = {
    "id": "ehr",
    "type": "python",
    "module": "m",
    "grounding": {"sample_size": 1, "state": [{"state_path": "patients", "fields": ["patient_id"]}]},
    "state_params": {"initial_state": {"patients": [{"patient_id": "P1", "dob": "x"}, {"patient_id": "P2"}]}},
}


def test_lookup_rows_are_projected_onto_the_fields() -> None:
    (pool,) = grounding_pools([EnvironmentConfig.model_validate(LIBRARY)], None)
    assert pool.facts[0] == {"book_id": "B0", "title": "Book 0", "state": "in"}  # `shelf` is not a field
    assert len(pool.facts) == 5


def test_sampling_is_seeded_per_sample_and_sized() -> None:
    pools = grounding_pools([EnvironmentConfig.model_validate(LIBRARY)], None)
    first = sample_facts(pools, sample_index=0, episode_seed=1)
    assert len(first) == 2
    assert first == sample_facts(pools, sample_index=0, episode_seed=999)  # grounding.seed wins
    assert any(sample_facts(pools, sample_index=i, episode_seed=1) != first for i in range(1, 6))


def test_state_records_and_unseeded_draws_follow_the_episode_seed() -> None:
    pools = grounding_pools([EnvironmentConfig.model_validate(PATIENTS)], None)
    draws = {describe_facts(sample_facts(pools, sample_index=0, episode_seed=s)) for s in range(20)}
    assert draws == {'- patient_id="P1"', '- patient_id="P2"'}


def test_database_tables_ground_too() -> None:
    env = {
        "id": "db",
        "type": "database",
        "schema_sql": "CREATE TABLE books (id TEXT PRIMARY KEY, title TEXT);",
        "seed_sql": "INSERT INTO books VALUES ('B1', 'Dune');",
        "grounding": {"state": [{"state_path": "books", "fields": ["id", "title"]}]},
        "tools": [{"id": "q", "sql": "SELECT * FROM books"}],
    }
    grounding = Grounding(grounding_pools([EnvironmentConfig.model_validate(env)], None))
    assert grounding.for_episode(0, 1) == '- id="B1", title="Dune"'


def test_a_database_grounding_table_must_exist() -> None:
    env = {
        "id": "db",
        "type": "database",
        "schema_sql": "CREATE TABLE books (id TEXT PRIMARY KEY);",
        "grounding": {"state": [{"state_path": "book", "fields": ["id"]}]},
        "tools": [{"id": "q", "sql": "SELECT * FROM books"}],
    }
    with pytest.raises(ConfigError, match="state_path 'book' names no table") as info:
        grounding_pools([EnvironmentConfig.model_validate(env)], None)
    assert info.value.hint == "known: books"


def test_grounding_errors_name_the_key(write: WriteFile) -> None:
    path = write(
        "c.yaml",
        """
        environment_config:
          environments:
            - id: library
              type: deterministic
              grounding: {tools: {statsu: {fields: [book_id]}}}
              tools: [{id: status, default_output: {}}]
            - id: ehr
              type: synthetic
              system_prompt: x
              grounding: {state: [{state_path: patient, fields: [id]}]}
              state_params: {initial_state: {patients: []}}
        inference_config: {model: {model_name: mock:x}}
        """,
    )
    messages = {e.location: e for e in config_errors(path)}
    assert messages["environment_config.environments[0].grounding.tools.statsu"].hint == "did you mean 'status'?"
    assert "must name a list" in messages["environment_config.environments[1].grounding.state[0].state_path"].message


REPLIES = """
from pathlib import Path

def reply(request):
    text = " ".join(" ".join((m.content or "").split()) for m in request.messages)
    with open(Path(__file__).parent / "prompts.txt", "a", encoding="utf-8") as out:
        print(text, file=out)
    return "ok"
"""


async def test_the_planner_and_the_user_see_the_facts(write: WriteFile, tmp_path: Path) -> None:
    write("replies.py", REPLIES)
    path = write(
        "g.yaml",
        """
        num_samples: 1
        environment_config:
          environments:
            - id: library
              env_type: deterministic
              grounding: {sample_size: 1, seed: 3, tools: {status: {fields: [book_id]}}}
              env_kwargs:
                lookup_table:
                  status: [{input: {book_id: B42}, output: {title: Dune}}]
              tools:
                - {id: status, name: status, description: d,
                   parameters: {type: object, properties: {book_id: {type: string}}}}
        strategy_params:
          multiturn_attributes:
            - id: chat
              min_turns: 1
              max_turns: 1
              role_instruction_messages: {USER: You borrow books., ASSISTANT: You are a librarian.}
              conversation_planner: Plan {target_turns} turn(s).
        inference_config:
          model: {model_name: "function:replies.py:reply"}
        """,
    )
    summary = await run_config(path, out_dir=tmp_path / "run")
    assert summary.done == 1, summary.recent_errors
    prompts = (tmp_path / "prompts.txt").read_text(encoding="utf-8").splitlines()
    planner = [p for p in prompts if "Plan 2 turn(s)." in p]  # {target_turns}: oumi counts messages
    user = [p for p in prompts if "You borrow books." in p and "Plan 2 turn(s)." not in p]
    assert planner and all("book_id" in p and "B42" in p for p in planner)  # (JSON-escaped there)
    assert user and all('- book_id="B42"' in p for p in user)
    assistant = [p for p in prompts if "You are a librarian." in p and "Plan" not in p]
    assert assistant and not any("B42" in p for p in assistant)  # the assistant must look it up

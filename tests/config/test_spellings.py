"""Both environment spellings load to the same typed config; oumi's defaults travel with its spelling."""

from __future__ import annotations

from config_helpers import MODEL, WriteFile, config_errors, where

from envsim.config.loader import load_config, load_environment_catalog
from envsim.config.models import ChatRole, EnvironmentConfig, EnvironmentType

DOCUMENTED = """
environment_config:
  environments:
    - id: support_backend
      type: synthetic
      system_prompt: You manage a support system.
      cache_by_input: false
      state_params:
        state_schema: {type: object, properties: {tickets: {type: array}}}
        initial_state: {tickets: []}
      tools:
        - id: create_ticket
          read_only: false
          parameters: {type: object, properties: {subject: {type: string}}}
    - id: faq
      type: synthetic
      system_prompt: You answer FAQ questions.
      cache_by_input: true
      tools:
        - {id: answer, read_only: true}
    - id: policy_table
      type: deterministic
      tools:
        - id: get_refund_policy
          read_only: true
          parameters: {type: object, properties: {policy_type: {type: string}}}
          deterministic_outputs:
            - {input: {policy_type: standard}, output: {policy: 30 days}}
"""

OUMI = """
environment_config:
  environments:
    - id: support_backend
      env_type: simulated
      env_kwargs:
        tool_persona: You manage a support system.
        cache_by_input: false
        state_params:
          state_schema: {type: object, properties: {tickets: {type: array}}}
          initial_state: {tickets: []}
      tools:
        - id: create_ticket
          read_only: false
          parameters: {type: object, properties: {subject: {type: string}}}
    - id: faq
      env_type: synthetic
      env_kwargs: {tool_persona: You answer FAQ questions.}
      tools:
        - {id: answer}
    - id: policy_table
      env_type: lookup
      env_kwargs:
        lookup_table:
          get_refund_policy:
            - {input: {policy_type: standard}, output: {policy: 30 days}}
      tools:
        - id: get_refund_policy
          parameters: {type: object, properties: {policy_type: {type: string}}}
"""


def test_both_spellings_load_to_equal_configs(write: WriteFile) -> None:
    documented = load_config(write("documented.yaml", DOCUMENTED, MODEL))
    oumi = load_config(write("oumi.yaml", OUMI, MODEL))
    assert oumi.environment_config is not None and documented.environment_config is not None
    assert oumi.environment_config.environments == documented.environment_config.environments
    assert oumi.model_dump() == documented.model_dump()


def test_oumi_defaults_cache_stateless_tools_and_read_only(write: WriteFile) -> None:
    config = load_config(write("oumi.yaml", OUMI, MODEL))
    assert config.environment_config is not None
    backend, faq, _ = config.environment_config.environments
    assert faq.cache_by_input is True  # oumi's default for stateless simulated environments
    assert faq.tools[0].read_only is True  # oumi's ToolParams.read_only default
    assert backend.cache_by_input is False


def test_documented_type_aliases_and_case(write: WriteFile) -> None:
    path = write(
        "c.yaml",
        """
        environment_config:
          environments:
            - {id: a, type: Simulated, system_prompt: x}
            - {id: b, type: lookup, tools: [{id: t, default_output: 1}]}
        """,
        MODEL,
    )
    config = load_config(path)
    assert config.environment_config is not None
    assert [e.type for e in config.environment_config.environments] == [
        EnvironmentType.SYNTHETIC,
        EnvironmentType.DETERMINISTIC,
    ]


def test_bare_list_catalog_in_oumi_spelling(write: WriteFile) -> None:
    path = write(
        "envs.yaml",
        """
        - id: policy
          env_type: deterministic
          env_kwargs:
            lookup_table:
              get_policy: [{input: {}, output: ok}]
          tools: [{id: get_policy, read_only: true}]
        """,
    )
    catalog = load_environment_catalog(path)
    tool = catalog.environments[0].tools[0]
    assert tool.deterministic_outputs[0].output == "ok"


def test_mixed_spellings_in_one_environment_is_an_error(write: WriteFile) -> None:
    path = write(
        "c.yaml",
        """
        environment_config:
          environments:
            - id: ok
              type: synthetic
            - id: mixed
              env_type: synthetic
              system_prompt: documented key
              env_kwargs: {tool_persona: oumi key}
        """,
        MODEL,
    )
    errors = config_errors(path)
    assert where(errors) == [("c.yaml", "environment_config.environments[1]")]
    assert "mixes the documented spelling (system_prompt) with oumi's (env_type, env_kwargs)" in errors[0].message
    assert errors[0].line == 5


def test_unknown_env_kwargs_key_has_did_you_mean(write: WriteFile) -> None:
    path = write(
        "c.yaml",
        """
        environment_config:
          environments:
            - id: a
              env_type: synthetic
              env_kwargs: {tool_persona: x, cache_by_inptu: true}
        """,
        MODEL,
    )
    errors = config_errors(path)
    assert where(errors) == [("c.yaml", "environment_config.environments[0].env_kwargs.cache_by_inptu")]
    assert errors[0].hint == "did you mean 'cache_by_input'?"


def test_lookup_table_for_unknown_tool_is_an_error(write: WriteFile) -> None:
    path = write(
        "c.yaml",
        """
        environment_config:
          environments:
            - id: a
              env_type: lookup
              env_kwargs:
                lookup_table:
                  get_polcy: [{input: {}, output: 1}]
              tools: [{id: get_policy, default_output: 0}]
        """,
        MODEL,
    )
    errors = config_errors(path)
    assert where(errors) == [("c.yaml", "environment_config.environments[0].env_kwargs.lookup_table.get_polcy")]
    assert errors[0].hint == "did you mean 'get_policy'?"


def test_unsupported_oumi_environment_type(write: WriteFile) -> None:
    path = write(
        "c.yaml",
        """
        environment_config:
          environments:
            - {id: web, env_type: browser}
        """,
        MODEL,
    )
    errors = config_errors(path)
    assert ("c.yaml", "environment_config.environments[0].env_type") in where(errors)
    assert any("oumi environment that envsim does not support" in e.message for e in errors)


def test_oumi_database_environment_is_read_from_env_kwargs(write: WriteFile) -> None:
    path = write(
        "c.yaml",
        """
        environment_config:
          environments:
            - id: db
              env_type: database
              env_kwargs:
                schema_sql: "CREATE TABLE t (id INTEGER PRIMARY KEY);"
                seed_sql: "INSERT INTO t VALUES (1);"
              tools: [{id: q, name: q, description: d, sql: "SELECT * FROM t"}]
        """,
        MODEL,
    )
    env = load_config(path).environment_config.environments[0]  # type: ignore[union-attr]
    assert (env.type, env.schema_sql, env.seed_sql) == (
        "database",
        "CREATE TABLE t (id INTEGER PRIMARY KEY);",
        "INSERT INTO t VALUES (1);",
    )
    assert env.tools[0].read_only  # oumi's default


def test_database_kwargs_errors_point_at_env_kwargs(write: WriteFile) -> None:
    path = write(
        "c.yaml",
        """
        environment_config:
          environments:
            - {id: db, env_type: database, env_kwargs: {schema_sq: x}}
        """,
        MODEL,
    )
    errors = config_errors(path)
    assert ("c.yaml", "environment_config.environments[0].env_kwargs.schema_sq") in where(errors)
    assert any(e.hint == "did you mean 'schema_sql'?" for e in errors)


def test_oumi_executor_key_is_accepted_on_synthetic_tools(write: WriteFile) -> None:
    path = write(
        "c.yaml",
        """
        environment_config:
          environments:
            - id: a
              env_type: synthetic
              env_kwargs: {tool_persona: x}
              tools: [{id: t, executor: pkg.mod.fn}]
        """,
        MODEL,
    )
    assert load_config(path).environment_config.environments[0].tools[0].executor == "pkg.mod.fn"  # type: ignore[union-attr]


def test_executor_on_a_python_environment_is_an_error(write: WriteFile) -> None:
    path = write(
        "c.yaml",
        """
        environment_config:
          environments:
            - {id: a, type: python, tools: [{id: t, handler: "m:f", executor: pkg.mod.fn}]}
        """,
        MODEL,
    )
    errors = config_errors(path)
    assert ("c.yaml", "environment_config.environments[0].tools[0].executor") in where(errors)
    assert "handler" in (errors[0].hint or "")


def test_engine_accepted_in_both_places(write: WriteFile) -> None:
    top = load_config(write("a.yaml", "inference_config:\n  engine: ANTHROPIC\n  model: {model_name: claude}\n"))
    nested = load_config(write("b.yaml", "inference_config:\n  model: {model_name: claude, engine: ANTHROPIC}\n"))
    assert top.inference_config.model.engine == nested.inference_config.model.engine == "ANTHROPIC"
    assert top.inference_config.engine == nested.inference_config.engine == "ANTHROPIC"


def test_engine_given_twice_differently_is_an_error(write: WriteFile) -> None:
    path = write("c.yaml", "inference_config:\n  engine: VLLM\n  model: {model_name: m, engine: OPENAI}\n")
    errors = config_errors(path)
    assert where(errors) == [("c.yaml", "inference_config")]
    assert "engine is given twice" in errors[0].message


def test_role_names_in_either_case(write: WriteFile) -> None:
    path = write(
        "c.yaml",
        """
        strategy_params:
          generated_attributes:
            - id: g
              instruction_messages:
                - {role: system, content: s}
                - {role: User, content: u}
          multiturn_attributes:
            - id: chat
              role_instruction_messages: {user: be a customer, assistant: be an agent}
        """,
        MODEL,
    )
    config = load_config(path)
    roles = [m.role for m in config.strategy_params.generated_attributes[0].instruction_messages]
    assert roles == [ChatRole.SYSTEM, ChatRole.USER]
    assert config.strategy_params.multiturn_attributes[0].role_instruction_messages == {
        "USER": "be a customer",
        "ASSISTANT": "be an agent",
    }


def test_same_role_in_two_cases_is_an_error(write: WriteFile) -> None:
    path = write(
        "c.yaml",
        """
        strategy_params:
          multiturn_attributes:
            - id: chat
              role_instruction_messages: {user: a, USER: b, ASSISTANT: c}
        """,
        MODEL,
    )
    errors = config_errors(path)
    assert where(errors) == [("c.yaml", "strategy_params.multiturn_attributes[0].role_instruction_messages")]


def test_python_built_environments_accept_oumi_spelling_too() -> None:
    env = EnvironmentConfig.model_validate(
        {
            "id": "e",
            "env_type": "lookup",
            "env_kwargs": {"lookup_table": {"t": [{"input": {}, "output": 1}]}},
            "tools": [{"id": "t"}],
        }
    )
    assert env.type is EnvironmentType.DETERMINISTIC
    assert env.tools[0].deterministic_outputs[0].output == 1

"""Every config error names the file, the line, the path inside the file, what is wrong and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest
from config_helpers import MODEL, WriteFile, by_location, catalog_errors, config_errors, where

from envsim.config.loader import load_config, load_config_or_catalog
from envsim.config.models import EnvironmentCatalog, SynthConfig
from envsim.errors import ConfigError

CATALOG = """
environments:
  - id: support
    type: synthetic
    system_prompt: You run support.
    tools:
      - id: create_ticket
        parameters: {type: object, properties: {subject: {type: string}}}
  - id: policy
    type: deterministic
    tools:
      - id: get_policy
        parameters: {type: object, properties: {kind: {type: string}}, required: [kind]}
        deterministic_outputs:
          - {input: {kind: a}, output: 1}
          - {input: {kind: b}, output: 2}
          - {input: {kind: c}, output: 3, outptu: 4}
"""


def test_unknown_key_with_did_you_mean(write: WriteFile) -> None:
    errors = config_errors(write("c.yaml", "num_sample: 3\n", MODEL))
    assert where(errors) == [("c.yaml", "num_sample")]
    assert errors[0].message == "unknown key 'num_sample'"
    assert errors[0].hint == "did you mean 'num_samples'?"
    assert errors[0].line == 1


def test_missing_required_key(write: WriteFile) -> None:
    errors = config_errors(write("c.yaml", "num_samples: 3\n"))
    assert where(errors) == [("c.yaml", "inference_config")]
    assert errors[0].message == "required key 'inference_config' is missing"


def test_wrong_type_says_expected_and_got(write: WriteFile) -> None:
    errors = config_errors(write("c.yaml", "num_samples: many\n", MODEL))
    assert where(errors) == [("c.yaml", "num_samples")]
    assert errors[0].message == "expected an integer, got a string ('many')"


def test_enum_error_suggests_the_value(write: WriteFile) -> None:
    path = write("c.yaml", "environment_config:\n  environments:\n    - {id: a, type: synthtic}\n", MODEL)
    errors = config_errors(path)
    assert where(errors) == [("c.yaml", "environment_config.environments[0].type")]
    assert errors[0].hint == "did you mean 'synthetic'?"
    assert errors[0].line == 3


def test_deep_location_inside_inline_environments(write: WriteFile) -> None:
    inline = "environment_config:\n" + "".join("  " + line + "\n" for line in CATALOG.strip().splitlines())
    errors = config_errors(write("c.yaml", inline, MODEL))
    assert where(errors) == [("c.yaml", "environment_config.environments[1].tools[0].deterministic_outputs[2].outptu")]
    assert errors[0].hint == "did you mean 'output'?"


def test_errors_in_catalog_file_name_that_file(write: WriteFile) -> None:
    write("envs/support.yaml", CATALOG)
    path = write("configs/c.yaml", "environment_config_path: ../envs/support.yaml\n", MODEL)
    errors = config_errors(path)
    assert where(errors) == [("support.yaml", "environments[1].tools[0].deterministic_outputs[2].outptu")]
    assert errors[0].file is not None and Path(errors[0].file).parts[-2:] == ("envs", "support.yaml")
    assert errors[0].line == 16


def test_bare_list_catalog_locations_start_with_the_index(write: WriteFile) -> None:
    bare = "\n".join(line[2:] for line in CATALOG.strip().splitlines()[1:]) + "\n"
    write("envs.yaml", bare)
    errors = config_errors(write("c.yaml", "environment_config_path: envs.yaml\n", MODEL))
    assert where(errors) == [("envs.yaml", "[1].tools[0].deterministic_outputs[2].outptu")]


def test_semantic_errors_in_catalog_file_name_that_file(write: WriteFile) -> None:
    write(
        "envs.yaml",
        CATALOG.replace("{input: {kind: b}, output: 2}", "{input: {kind: 7}, output: 2}").replace(", outptu: 4", ""),
    )
    errors = config_errors(write("c.yaml", "environment_config_path: envs.yaml\n", MODEL))
    assert where(errors) == [("envs.yaml", "environments[1].tools[0].deterministic_outputs[1].input")]
    assert "7 is not of type 'string'" in errors[0].message


def test_oumi_spelling_errors_point_at_what_the_user_wrote(write: WriteFile) -> None:
    path = write(
        "c.yaml",
        """
        environment_config:
          environments:
            - id: policy
              env_type: lookup
              env_kwargs:
                lookup_table:
                  get_policy:
                    - {input: {kind: a}, output: 1}
                    - {input: {kind: 3}, output: 2}
                    - {input: {kind: a}, output: 3}
              tools:
                - id: get_policy
                  parameters: {type: object, properties: {kind: {type: string}}}
        """,
        MODEL,
    )
    errors = config_errors(path)
    assert where(errors) == [
        ("c.yaml", "environment_config.environments[0].env_kwargs.lookup_table.get_policy[1].input"),
        ("c.yaml", "environment_config.environments[0].env_kwargs.lookup_table.get_policy[2].input"),
    ]
    assert "duplicate input" in errors[1].message
    assert [e.line for e in errors] == [9, 10]


def test_oumi_persona_type_error_points_at_tool_persona(write: WriteFile) -> None:
    path = write(
        "c.yaml",
        "environment_config:\n  environments:\n    - {id: a, env_type: synthetic, env_kwargs: {tool_persona: [x]}}\n",
        MODEL,
    )
    errors = config_errors(path)
    assert where(errors) == [("c.yaml", "environment_config.environments[0].env_kwargs.tool_persona")]
    assert errors[0].message == "expected a string, got a list of 1 item"


def test_all_errors_are_collected_in_one_pass(write: WriteFile) -> None:
    write("envs.yaml", CATALOG)
    path = write(
        "c.yaml",
        """
        environment_config_path: envs.yaml
        num_samples: 0
        strategy_params:
          multiturn_attributes:
            - {id: chat, role_instruction_messages: {USER: u}}
        """,
        "inference_config: {model: {model_name: m}, generation: {temperature: -1}}\n",
    )
    errors = config_errors(path)
    assert sorted(where(errors)) == sorted(
        [
            ("envs.yaml", "environments[1].tools[0].deterministic_outputs[2].outptu"),
            ("c.yaml", "num_samples"),
            ("c.yaml", "inference_config.generation.temperature"),
        ]
    )
    assert by_location(errors, "num_samples").message == "must be >= 1, got an integer (0)"


def test_semantic_errors_reported_even_when_catalog_is_fine_but_config_is_not(write: WriteFile) -> None:
    path = write(
        "c.yaml", "environment_config:\n  environments:\n    - {id: a, type: deterministic, tools: [{id: t}]}\n"
    )
    errors = config_errors(path)
    assert sorted(where(errors)) == [
        ("c.yaml", "environment_config.environments[0].tools[0]"),
        ("c.yaml", "inference_config"),
    ]


def test_both_inline_and_path_is_an_error(write: WriteFile) -> None:
    write("envs.yaml", CATALOG)
    path = write("c.yaml", "environment_config: {environments: []}\nenvironment_config_path: envs.yaml\n", MODEL)
    errors = config_errors(path)
    assert where(errors) == [("c.yaml", "environment_config_path")]
    assert errors[0].message == "both environment_config and environment_config_path are set"


def test_missing_catalog_file_is_reported_at_the_key_naming_it(write: WriteFile) -> None:
    path = write("c.yaml", "environment_config_path: nowhere.yaml\n", MODEL)
    errors = config_errors(path)
    assert where(errors) == [("c.yaml", "environment_config_path")]
    assert errors[0].message.startswith("cannot load the environment catalog: file not found (looked for ")
    looked_for = Path(errors[0].message.split("looked for ")[1].removesuffix(")"))
    assert looked_for.is_absolute() and looked_for == path.parent / "nowhere.yaml"


def test_catalog_with_duplicate_keys_names_the_catalog_file(write: WriteFile) -> None:
    write("envs.yaml", "environments:\n  - id: a\n    id: b\n")
    errors = config_errors(write("c.yaml", "environment_config_path: envs.yaml\n", MODEL))
    assert len(errors) == 1 and errors[0].file is not None and errors[0].file.endswith("envs.yaml")
    assert "duplicate key 'id'" in errors[0].message


def test_source_path_cannot_be_set_by_users(write: WriteFile) -> None:
    errors = config_errors(write("c.yaml", "source_path: /etc\n", MODEL))
    assert where(errors) == [("c.yaml", "source_path")]


def test_top_level_must_be_a_mapping(write: WriteFile) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write("c.yaml", "- a\n- b\n"))
    assert "expected a mapping at the top level" in info.value.message


def test_render_includes_file_line_path_and_fix(write: WriteFile) -> None:
    path = write("c.yaml", "seed: 1\nnum_sample: 3\n", MODEL)
    rendered = config_errors(path)[0].render()
    assert rendered == f"{path}:2:num_sample: unknown key 'num_sample'\n  fix: did you mean 'num_samples'?"


def test_catalog_loader_reports_catalog_paths(write: WriteFile) -> None:
    # The semantic checks still run on the environments that are valid, next to the broken one.
    path = write("envs.yaml", CATALOG + "  - {id: support, type: synthetic}\n")
    errors = catalog_errors(path)
    assert where(errors) == [
        ("envs.yaml", "environments[1].tools[0].deterministic_outputs[2].outptu"),
        ("envs.yaml", "environments[2].id"),
    ]
    assert errors[1].message == "environment id 'support' is already used by environments[0]"


def test_load_config_or_catalog_tells_them_apart(write: WriteFile) -> None:
    catalog = write("envs.yaml", CATALOG.replace(", outptu: 4", ""))
    config = write("c.yaml", "environment_config_path: envs.yaml\n", MODEL)
    assert isinstance(load_config_or_catalog(catalog), EnvironmentCatalog)
    loaded = load_config_or_catalog(config)
    assert isinstance(loaded, SynthConfig)
    assert loaded.environment_config_path == "envs.yaml"  # kept for display
    assert loaded.environment_config is not None
    assert [e.id for e in loaded.environment_config.environments] == ["support", "policy"]

"""Relative paths resolve against the file that names them."""

from __future__ import annotations

import json
from pathlib import Path

from config_helpers import MODEL, WriteFile, config_errors, where

from envsim.config.loader import load_config, load_environment_catalog
from envsim.config.models import SynthConfig
from envsim.config.paths import resolve_path


def test_catalog_path_is_relative_to_the_config_file(write: WriteFile, tmp_path: Path, monkeypatch) -> None:
    write("shared/envs.yaml", "- {id: a, type: synthetic}\n")
    path = write("configs/c.yaml", "environment_config_path: ../shared/envs.yaml\noutput_path: out/data.jsonl\n", MODEL)
    monkeypatch.chdir(tmp_path / "shared")  # the current directory must not matter
    config = load_config(Path("..") / "configs" / "c.yaml")
    assert config.environment_config is not None
    assert config.environment_config.environments[0].id == "a"
    assert config.environment_config.source_path == str((tmp_path / "shared" / "envs.yaml").resolve())
    assert config.source_path == str(path.resolve())
    assert resolve_path(config, config.output_path or "") == path.resolve().parent / "out" / "data.jsonl"


def test_resolve_path_keeps_absolute_paths_and_uses_cwd_without_a_file(tmp_path: Path) -> None:
    config = SynthConfig.model_validate({"inference_config": {"model": {"model_name": "m"}}})
    assert resolve_path(config, "data.jsonl") == Path("data.jsonl")
    config.source_path = str(tmp_path / "c.yaml")
    assert resolve_path(config, "/abs/x.json") == Path("/abs/x.json")
    assert resolve_path(config, "x.json") == tmp_path / "x.json"


def test_initial_state_path_is_read_relative_to_the_catalog(write: WriteFile) -> None:
    (state_file := write("envs/state/start.json", "")).write_text(json.dumps({"tickets": [{"id": 1}]}))
    catalog = write(
        "envs/catalog.yaml",
        """
        - id: support
          type: synthetic
          state_params:
            state_schema: {type: object, properties: {tickets: {type: array}}}
            initial_state_path: state/start.json
        """,
    )
    loaded = load_environment_catalog(catalog)
    params = loaded.environments[0].state_params
    assert params is not None and params.initial_state == {"tickets": [{"id": 1}]}
    assert state_file.exists()


def test_initial_state_from_file_is_validated_at_the_key_naming_it(write: WriteFile) -> None:
    write("start.json", '{"tickets": 5}')
    path = write(
        "c.yaml",
        """
        environment_config:
          environments:
            - id: a
              env_type: synthetic
              env_kwargs:
                tool_persona: x
                state_params:
                  state_schema: {type: object, properties: {tickets: {type: array}}}
                  initial_state_path: start.json
        """,
        MODEL,
    )
    errors = config_errors(path)
    assert where(errors) == [
        ("c.yaml", "environment_config.environments[0].env_kwargs.state_params.initial_state_path")
    ]
    assert "does not match state_schema" in errors[0].message


def test_initial_state_and_initial_state_path_together_is_an_error(write: WriteFile) -> None:
    write("start.json", "{}")
    text = "environment_config:\n  environments:\n    - id: a\n      type: synthetic\n      state_params:\n"
    text += "        initial_state: {}\n        initial_state_path: start.json\n"
    errors = config_errors(write("c.yaml", text, MODEL))
    assert where(errors) == [("c.yaml", "environment_config.environments[0].state_params.initial_state_path")]


def test_missing_initial_state_file(write: WriteFile) -> None:
    text = "environment_config:\n  environments:\n    - id: a\n      type: synthetic\n      state_params:\n"
    text += "        initial_state_path: nope.json\n"
    errors = config_errors(write("c.yaml", text, MODEL))
    assert where(errors) == [("c.yaml", "environment_config.environments[0].state_params.initial_state_path")]
    assert errors[0].message == "cannot read initial state file 'nope.json': file not found"

"""The attribute checks run when a config file is loaded, each problem reported once, with its line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import envsim.attributes.pipeline  # noqa: F401  (registers the attribute validator)
from envsim.config.loader import load_config
from envsim.errors import ConfigError, ConfigErrors

CONFIG = """
num_samples: 3
inference_config:
  model: {model_name: scripted}
strategy_params:
  sampled_attributes:
    - id: tone
      possible_values: [{id: calm, sample_rate: 0.9}, {id: angry, sample_rate: 0.5}]
  input_examples:
    - id: ex
      num_shots: 2
      examples: [{q: a}, {q: b}, {q: c}]
  generated_attributes:
    - id: question
      instruction_messages:
        - role: USER
          content: "Ask as {tonee} like {ex[4].q}"
"""


def test_load_config_reports_attribute_errors_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(textwrap.dedent(CONFIG), encoding="utf-8")
    with pytest.raises((ConfigError, ConfigErrors)) as info:
        load_config(path)
    text = str(info.value)
    assert "references unknown attribute 'tonee'" in text and "did you mean {tone}" in text
    assert "index 4 is out of range" in text
    assert f"{path}:" in text
    assert text.count("add up to 1.4") == 1  # the loader's own rate check; not repeated by ours


def test_a_valid_config_loads(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        textwrap.dedent(CONFIG).replace("{tonee}", "{tone}").replace("ex[4]", "ex[1]").replace("0.9", "0.4")
    )
    config = load_config(path)
    assert config.strategy_params.generated_attributes[0].id == "question"

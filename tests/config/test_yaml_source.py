"""Safe YAML: duplicate keys and unsafe tags are errors naming the file and line."""

from __future__ import annotations

from pathlib import Path

import pytest
from config_helpers import WriteFile

from envsim.config.yaml_source import parse_yaml_value, read_yaml
from envsim.errors import ConfigError


def test_duplicate_mapping_key_names_key_and_both_lines(write: WriteFile) -> None:
    path = write(
        "c.yaml",
        """
        num_samples: 3
        seed: 1
        num_samples: 4
        """,
    )
    with pytest.raises(ConfigError) as info:
        read_yaml(path)
    message = info.value.render()
    assert info.value.file == str(path)
    assert "duplicate key 'num_samples'" in message
    assert "line 3" in message and "first defined on line 1" in message
    assert info.value.hint == "remove or rename one of the two keys"


def test_duplicate_key_in_nested_flow_mapping_is_caught(write: WriteFile) -> None:
    path = write("c.yaml", "tools:\n  - {id: a, id: b}\n")
    with pytest.raises(ConfigError, match="duplicate key 'id'"):
        read_yaml(path)


def test_python_tags_are_refused(write: WriteFile) -> None:
    path = write("c.yaml", "x: !!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(ConfigError) as info:
        read_yaml(path)
    assert "Python tags" in (info.value.hint or "")


def test_syntax_error_reports_line_and_column(write: WriteFile) -> None:
    path = write("c.yaml", "a: 1\nb: [1, 2\nc: 3\n")
    with pytest.raises(ConfigError) as info:
        read_yaml(path)
    assert info.value.message.startswith("invalid YAML at line ")


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        read_yaml(tmp_path / "nope.yaml")
    assert info.value.message == "file not found"


def test_lines_are_recorded_per_path(write: WriteFile) -> None:
    path = write(
        "c.yaml",
        """
        a:
          b:
            - x: 1
            - {y: 2}
        """,
    )
    doc = read_yaml(path)
    assert doc.line_of(("a", "b", 1, "y")) == 4
    assert doc.line_of(("a", "b", 0, "x")) == 3
    assert doc.line_of(("a", "b", 0, "missing")) == 3  # nearest existing ancestor


@pytest.mark.parametrize(
    ("text", "value"),
    [("0.5", 0.5), ("true", True), ("[1, 2]", [1, 2]), ("{a: 1}", {"a": 1}), ("hello world", "hello world"), ("", "")],
)
def test_override_values_parse_as_yaml(text: str, value: object) -> None:
    assert parse_yaml_value(text) == value

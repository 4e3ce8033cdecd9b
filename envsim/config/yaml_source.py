"""Safe YAML reading for config and catalog files.

Only `yaml.SafeLoader` is used (no Python object tags, ever). Duplicate mapping keys are an error
naming the key and its line: PyYAML silently keeps the last one, which hides real mistakes. While
loading we also record the line of every node, so errors can point at `file:line`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

from envsim.errors import ConfigError

Loc = tuple[str | int, ...]


class UniqueKeySafeLoader(yaml.SafeLoader):
    """A SafeLoader that rejects a mapping that repeats a key."""

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *anchor` merges are allowed to repeat keys by design
            key = self.construct_object(key_node, deep=True)
            try:
                first_line = seen.get(key)
            except TypeError:  # unhashable key: the base class reports it properly
                continue
            line = key_node.start_mark.line + 1
            if first_line is not None:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"found duplicate key {key!r} (line {line}; first defined on line {first_line})",
                    key_node.start_mark,
                )
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


@dataclass
class YamlDocument:
    """A parsed YAML file: its data and the line (1-based) of each node, keyed by its path."""

    path: Path
    data: Any
    lines: dict[Loc, int] = field(default_factory=dict)

    def line_of(self, loc: Loc) -> int | None:
        """The line of `loc`, or of its nearest ancestor that exists in the file."""
        for end in range(len(loc), -1, -1):
            line = self.lines.get(loc[:end])
            if line is not None:
                return line
        return None


DEFAULT_MAX_CONFIG_BYTES = 8 * 1024 * 1024
MAX_CONFIG_BYTES_ENV = "ENVSIM_MAX_CONFIG_BYTES"


def max_config_bytes() -> int:
    """The size limit for config, catalog and scenario files: ENVSIM_MAX_CONFIG_BYTES, else 8 MiB.

    A guard against a wrong path (a dataset, a log) or a generated file gone wrong: PyYAML parses about
    a megabyte per second, so a 50 MB file would keep `validate` busy for a minute before any error."""
    raw = os.environ.get(MAX_CONFIG_BYTES_ENV)
    if raw is None or not raw.strip():
        return DEFAULT_MAX_CONFIG_BYTES
    try:
        value = int(raw.strip())
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(
            f"{MAX_CONFIG_BYTES_ENV} must be a positive number of bytes, got {raw!r}",
            hint=f"unset it (default {DEFAULT_MAX_CONFIG_BYTES}) or set e.g. {MAX_CONFIG_BYTES_ENV}=50000000",
        )
    return value


def check_file_size(path: Path, shown: str) -> None:
    """Refuse a file above `max_config_bytes()` before reading it."""
    try:
        size = path.stat().st_size
    except OSError:
        return  # the read reports it (not found, permission, ...)
    limit = max_config_bytes()
    if size > limit:
        raise ConfigError(
            f"the file is {_megabytes(size)}, larger than the {_megabytes(limit)} limit for config, "
            "catalog and scenario files",
            file=shown,
            hint=f"check that this is the file you meant; to read it anyway set {MAX_CONFIG_BYTES_ENV}={size}",
        )


def read_text_file(path: Path, shown: str) -> str:
    """A config-like file's text (size-checked, UTF-8); every problem is a ConfigError naming the file."""
    check_file_size(path, shown)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            "file not found",
            file=shown,
            hint="check the path (relative paths resolve against the file that names them)",
        ) from None
    except IsADirectoryError:
        raise ConfigError("is a directory, expected a YAML file", file=shown) from None
    except OSError as exc:
        raise ConfigError(f"cannot read the file: {exc.strerror or exc}", file=shown) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, column = _line_column_of_byte(raw, exc.start)
        raise ConfigError(
            f"not valid UTF-8 at line {line}, column {column} (byte 0x{raw[exc.start]:02x})",
            file=shown,
            line=line,
            hint="save the file as UTF-8 text",
        ) from None


def read_yaml(path: Path, *, display: str | None = None) -> YamlDocument:
    """Read one YAML document safely. Any problem becomes a ConfigError naming the file (and line)."""
    shown = display or str(path)
    text = read_text_file(path, shown)
    loader: UniqueKeySafeLoader | None = None
    try:
        loader = UniqueKeySafeLoader(text)  # the reader checks every character here (NUL, controls)
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.reader.ReaderError as exc:
        line, column = _line_column_of_char(text, exc.position)
        raise ConfigError(
            f"invalid YAML at line {line}, column {column}: character {_describe_char(exc.character)} is not "
            "allowed in YAML",
            file=shown,
            line=line,
            hint="remove the character (a NUL or control character usually means a binary or corrupted file)",
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(_describe_yaml_error(exc), file=shown, hint=_yaml_hint(exc), line=line) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", file=shown) from None
    except RecursionError:
        raise ConfigError("the YAML is nested too deeply to read", file=shown, hint="flatten the structure") from None
    finally:
        if loader is not None:
            loader.dispose()
    lines: dict[Loc, int] = {}
    if node is not None:
        try:
            _record_lines(node, (), lines)
        except RecursionError:
            lines.clear()  # nesting the constructor survived; locations without lines
    return YamlDocument(path=path, data=data, lines=lines)


def _megabytes(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB" if size >= 100_000 else f"{size} bytes"


def _line_column_of_byte(raw: bytes, index: int) -> tuple[int, int]:
    start = raw.rfind(b"\n", 0, index) + 1
    return raw.count(b"\n", 0, index) + 1, index - start + 1


def _line_column_of_char(text: str, index: int) -> tuple[int, int]:
    start = text.rfind("\n", 0, index) + 1
    return text.count("\n", 0, index) + 1, index - start + 1


def _describe_char(character: object) -> str:
    code = ord(character) if isinstance(character, str) and len(character) == 1 else character
    if not isinstance(code, int):
        return repr(character)
    return f"U+{code:04X}" + (" (NUL)" if code == 0 else "")


def parse_yaml_value(text: str) -> Any:
    """Parse a command-line value as a YAML scalar or flow collection (`0.5`, `true`, `[1, 2]`, `{a: 1}`)."""
    if text == "":
        return ""
    try:
        return yaml.load(text, Loader=UniqueKeySafeLoader)  # a SafeLoader subclass: safe
    except yaml.YAMLError:
        return text  # not valid YAML on its own (e.g. "a: b: c"): take it as a plain string


def _record_lines(node: Node, loc: Loc, lines: dict[Loc, int]) -> None:
    lines[loc] = node.start_mark.line + 1
    if isinstance(node, MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node.value, str) and key_node.tag != "tag:yaml.org,2002:merge":
                child = (*loc, key_node.value)
                _record_lines(value_node, child, lines)
                lines[child] = key_node.start_mark.line + 1  # point at the key, not its value
    elif isinstance(node, SequenceNode):
        for index, item in enumerate(node.value):
            _record_lines(item, (*loc, index), lines)


def _describe_yaml_error(exc: yaml.MarkedYAMLError) -> str:
    mark = exc.problem_mark or exc.context_mark
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    parts = [p for p in (exc.context, exc.problem) if p]
    return f"invalid YAML at {where}{'; '.join(parts)}"


def _yaml_hint(exc: yaml.MarkedYAMLError) -> str | None:
    problem = exc.problem or ""
    if "duplicate key" in problem:
        return "remove or rename one of the two keys"
    if "could not determine a constructor" in problem:
        return "envsim reads YAML safely: Python tags such as !!python/object are not allowed"
    if "mapping values are not allowed" in problem:
        return "quote values that contain ': ' (for example prompts), or use a block scalar `|`"
    if "found character '\\t'" in problem:
        return "YAML does not allow tabs for indentation; use spaces"
    return None

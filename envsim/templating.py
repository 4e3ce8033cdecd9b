"""Safe `{placeholder}` rendering for prompts and transforms.

Grammar (parsed here, never with `str.format`):

    placeholder := "{" NAME accessor* "}"
    accessor    := "." NAME | "[" INTEGER "]"
    NAME        := [A-Za-z_][A-Za-z0-9_]*

`{{` and `}}` are literal braces. A `{` that does not start a well-formed placeholder (for example the
JSON in `Reply with {"ok": true}`) is literal text, so prompts can show JSON without escaping.

Values are looked up only in plain data: dict keys, list indexes, and the whitelisted fields of a
`TemplateNode` (a sampled attribute's choice). Python attributes are never read, so `{x.__class__}` is
just an unknown field and fails with a clear error.
"""

from __future__ import annotations

import abc
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from envsim.errors import ConfigError

Accessor = str | int

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_PLACEHOLDER = re.compile(rf"\{{({_NAME})((?:\.{_NAME}|\[\d+\])*)\}}")
_ACCESSOR = re.compile(rf"\.({_NAME})|\[(\d+)\]")


class TemplateError(ConfigError):
    """A template names something that does not exist (or cannot be shown as text)."""


class TemplateNode(abc.ABC):
    """A value with named fields a template may read (e.g. a sampled attribute's chosen value).

    Only names listed by `template_fields` are reachable; nothing else about the object is.
    """

    @abc.abstractmethod
    def template_text(self) -> str:
        """What `{name}` renders to."""

    @abc.abstractmethod
    def template_fields(self) -> Mapping[str, Any]:
        """The fields `{name.field}` may read."""

    def json_value(self) -> Any:
        """How the value is recorded in traces and dataset files (default: its text)."""
        return self.template_text()


@dataclass(frozen=True)
class Placeholder:
    """One `{...}` occurrence: `name` is the root attribute, `accessors` the `.field` / `[i]` path."""

    text: str  # as written, with braces
    name: str
    accessors: tuple[Accessor, ...]
    start: int
    end: int

    @property
    def index(self) -> int | None:
        """The few-shot index when the placeholder starts with `name[i]`."""
        return self.accessors[0] if self.accessors and isinstance(self.accessors[0], int) else None

    @property
    def path(self) -> str:
        """The placeholder without braces, e.g. `examples[0].question`."""
        return self.text[1:-1]


@dataclass(frozen=True)
class _Literal:
    text: str


def _parse(template: str) -> list[_Literal | Placeholder]:
    parts: list[_Literal | Placeholder] = []
    buffer: list[str] = []
    i = 0
    n = len(template)
    while i < n:
        ch = template[i]
        if ch == "{":
            if template.startswith("{{", i):
                buffer.append("{")
                i += 2
                continue
            match = _PLACEHOLDER.match(template, i)
            if match:
                if buffer:
                    parts.append(_Literal("".join(buffer)))
                    buffer = []
                accessors: list[Accessor] = [
                    field if field else int(index) for field, index in _ACCESSOR.findall(match.group(2))
                ]
                parts.append(Placeholder(match.group(0), match.group(1), tuple(accessors), match.start(), match.end()))
                i = match.end()
                continue
        elif ch == "}" and template.startswith("}}", i):
            buffer.append("}")
            i += 2
            continue
        buffer.append(ch)
        i += 1
    if buffer:
        parts.append(_Literal("".join(buffer)))
    return parts


def find_placeholders(template: str) -> list[Placeholder]:
    """Every placeholder in `template`, in order (for static checks of attribute references)."""
    return [p for p in _parse(template) if isinstance(p, Placeholder)]


def to_text(value: Any) -> str:
    """How a value appears inside rendered text: strings as-is, None as empty, everything else as JSON."""
    if isinstance(value, TemplateNode):
        return value.template_text()
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    try:
        return json.dumps(value, ensure_ascii=False, default=_json_default)
    except (TypeError, ValueError) as exc:  # pragma: no cover - values are JSON data by construction
        raise TemplateError(f"cannot show a {type(value).__name__} value as text: {exc}") from exc


def _json_default(value: Any) -> Any:
    if isinstance(value, TemplateNode):
        return value.template_text()
    raise TypeError(f"{type(value).__name__} is not JSON data")


def resolve(placeholder: Placeholder, values: Mapping[str, Any], *, where: str | None = None) -> Any:
    """The value a placeholder points at; raises TemplateError naming the template and what is missing."""
    if placeholder.name not in values:
        available = ", ".join(sorted(values)) or "(none)"
        raise TemplateError(
            f"unknown placeholder {placeholder.text}: no attribute named {placeholder.name!r}",
            location=where,
            hint=f"use one of: {available}",
        )
    current = values[placeholder.name]
    walked = placeholder.name
    for accessor in placeholder.accessors:
        current = _step(current, accessor, placeholder, walked, where)
        walked += f"[{accessor}]" if isinstance(accessor, int) else f".{accessor}"
    return current


def _step(current: Any, accessor: Accessor, placeholder: Placeholder, walked: str, where: str | None) -> Any:
    if isinstance(accessor, int):
        if isinstance(current, list):
            if accessor < len(current):
                return current[accessor]
            raise TemplateError(
                f"{placeholder.text}: index {accessor} is out of range ({walked} has {len(current)} items)",
                location=where,
            )
        raise TemplateError(
            f"{placeholder.text}: {walked} is not a list, so [{accessor}] cannot be used", location=where
        )
    fields: Mapping[str, Any] | None
    if isinstance(current, TemplateNode):
        fields = current.template_fields()
    elif isinstance(current, dict):
        fields = current
    else:
        fields = None
    if fields is None:
        raise TemplateError(
            f"{placeholder.text}: {walked} is a {_kind(current)}, it has no field {accessor!r}", location=where
        )
    if accessor not in fields:
        known = ", ".join(sorted(str(k) for k in fields)) or "(none)"
        raise TemplateError(
            f"{placeholder.text}: {walked} has no field {accessor!r}", location=where, hint=f"fields: {known}"
        )
    return fields[accessor]


def _kind(value: Any) -> str:
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if value is None:
        return "null value"
    return type(value).__name__


def render(template: str, values: Mapping[str, Any], *, where: str | None = None) -> str:
    """Fill every placeholder of `template` from `values`. `where` names the template in errors."""
    out: list[str] = []
    for part in _parse(template):
        if isinstance(part, _Literal):
            out.append(part.text)
        else:
            out.append(to_text(resolve(part, values, where=where)))
    return "".join(out)

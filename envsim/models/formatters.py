"""Request formatters: a typed call's input value -> the text of its user message.

Three formats, as in sintezi: JSON (indented, for nested data), XML (one element per field, easy for a
model to quote long text from) and plain text (a `str` is sent as is). `formatter_for(input_type)` picks
one from the input's *type*, so every input of a call is sent the same way:

    str                      -> TextFormatter
    XmlModel subclass        -> XmlFormatter   (see envsim.models.parsers.XmlModel)
    anything else            -> JsonFormatter  (pydantic models, dicts, lists, numbers)
"""

from __future__ import annotations

import abc
import json
from collections.abc import Mapping
from typing import Any, Literal
from xml.sax.saxutils import escape

from pydantic import BaseModel

from envsim.models.parsers import XmlModel

FormatName = Literal["json", "xml", "text"]


def to_data(value: Any) -> Any:
    """A JSON-compatible view of `value` (pydantic models dumped in JSON mode)."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, Mapping):
        return {str(k): to_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_data(v) for v in value]
    return value


class RequestFormatter(abc.ABC):
    name: FormatName

    @abc.abstractmethod
    def format(self, value: Any) -> str: ...


class JsonFormatter(RequestFormatter):
    name: FormatName = "json"

    def __init__(self, indent: int | None = 2) -> None:
        self.indent = indent

    def format(self, value: Any) -> str:
        return json.dumps(to_data(value), ensure_ascii=False, indent=self.indent)


class XmlFormatter(RequestFormatter):
    """Mappings become one element per key, lists one `<item>` per element; text is escaped."""

    name: FormatName = "xml"

    def __init__(self, root: str | None = None) -> None:
        self.root = root  # wrap everything in <root>…</root> when set

    def format(self, value: Any) -> str:
        data = to_data(value)
        body = "\n".join(xml_element(str(k), v) for k, v in data.items()) if isinstance(data, dict) else None
        if body is None:
            return xml_element(self.root or "input", data)
        return f"<{self.root}>\n{body}\n</{self.root}>" if self.root else body


class TextFormatter(RequestFormatter):
    """A str as is; a mapping as `key: value` lines; anything else as compact JSON."""

    name: FormatName = "text"

    def format(self, value: Any) -> str:
        if isinstance(value, str):
            return value
        data = to_data(value)
        if isinstance(data, dict):
            lines = (f"{k}: {v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)}" for k, v in data.items())
            return "\n".join(lines)
        return json.dumps(data, ensure_ascii=False)


def xml_element(tag: str, value: Any) -> str:
    if isinstance(value, dict):
        inner = "\n".join(xml_element(str(k), v) for k, v in value.items())
        return f"<{tag}>\n{inner}\n</{tag}>"
    if isinstance(value, list):
        inner = "\n".join(xml_element("item", v) for v in value)
        return f"<{tag}>\n{inner}\n</{tag}>"
    text = "" if value is None else value if isinstance(value, str) else json.dumps(value)
    return f"<{tag}>{escape(text)}</{tag}>"


def formatter_for(input_type: type[Any] | None) -> RequestFormatter:
    """The formatter for inputs of `input_type` (None: unknown, JSON unless the value is a str)."""
    if isinstance(input_type, type) and issubclass(input_type, str):
        return TextFormatter()
    if isinstance(input_type, type) and issubclass(input_type, XmlModel):
        return XmlFormatter()
    return JsonFormatter()


def formatter_named(name: FormatName) -> RequestFormatter:
    return {"json": JsonFormatter, "xml": XmlFormatter, "text": TextFormatter}[name]()

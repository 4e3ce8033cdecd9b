"""Response parsers: a model's reply text -> a typed, validated value.

Each parser says what to ask for (`instructions`, appended to the prompt, and `response_schema`, for
providers' JSON-schema mode) and turns the reply into the value or raises `ReplyParseError` with an
explanation the model can act on (a typed call shows it to the model when it re-asks).

    JsonParser(T)        any type pydantic can validate (models, list[Model], dict[str, int], ...)
    SchemaParser(schema) a JSON Schema (YAML configs' `output_schema`); the value is the JSON
    XmlParser(Model)     a pydantic model exchanged as XML (one element per field)
    TextParser()         the reply text itself (`output_type=str`)

`parser_for(output_type)` picks by type, as sintezi does: str -> text, `XmlModel` subclass -> XML,
anything else -> JSON.
"""

from __future__ import annotations

import abc
import json
import re
from typing import Any, Generic, Literal, TypeVar
from xml.etree import ElementTree

import jsonschema
from pydantic import BaseModel, TypeAdapter, ValidationError

from envsim.models.json_extract import JSONExtractionError, extract_json

T = TypeVar("T")
ParserName = Literal["json", "xml", "text"]


class XmlModel(BaseModel):
    """A pydantic model that typed calls send and expect as XML instead of JSON (sintezi's
    BaseXmlModel role, without the pydantic-xml dependency): subclass it instead of BaseModel."""


class ReplyParseError(ValueError):
    """The reply is not a valid value; the message says why, for the model to fix."""


class ResponseParser(abc.ABC, Generic[T]):
    name: ParserName
    schema_name: str = "response"

    def instructions(self) -> str:
        """Text appended to the prompt telling the model how to reply ("" for none)."""
        return ""

    def response_schema(self) -> dict[str, Any] | None:
        """JSON Schema for the provider's structured-output mode (None: plain text reply)."""
        return None

    @abc.abstractmethod
    def parse(self, text: str) -> T: ...


# ---------------------------------------------------------------------------------------------- JSON


class JsonParser(ResponseParser[T]):
    name: ParserName = "json"

    def __init__(self, output_type: type[T]) -> None:
        self.output_type = output_type
        self._adapter: TypeAdapter[T] = TypeAdapter(output_type)
        self.schema = self._adapter.json_schema()
        self.schema_name = getattr(output_type, "__name__", "response")

    def instructions(self) -> str:
        return json_instructions(self.schema)

    def response_schema(self) -> dict[str, Any] | None:
        # JSON-schema modes want an object at the top; other shapes are asked for in the prompt only.
        return self.schema if self.schema.get("type") == "object" else None

    def parse(self, text: str) -> T:
        value = _json_value(text)
        try:
            return self._adapter.validate_python(value)
        except ValidationError as exc:
            raise ReplyParseError(explain_validation(exc)) from exc


class SchemaParser(ResponseParser[Any]):
    name: ParserName = "json"

    def __init__(self, schema: dict[str, Any], name: str | None = None) -> None:
        jsonschema.validators.validator_for(schema).check_schema(schema)
        self.schema = schema
        self.schema_name = name or str(schema.get("title") or "response")
        self._validator = jsonschema.validators.validator_for(schema)(schema)

    def instructions(self) -> str:
        return json_instructions(self.schema)

    def response_schema(self) -> dict[str, Any] | None:
        return self.schema

    def parse(self, text: str) -> Any:
        value = _json_value(text)
        error = jsonschema.exceptions.best_match(self._validator.iter_errors(value))
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
            raise ReplyParseError(f"the JSON does not match the schema at {where}: {error.message}")
        return value


def json_instructions(schema: dict[str, Any]) -> str:
    return f"Reply with only a JSON value matching this JSON Schema:\n{json.dumps(schema, ensure_ascii=False)}"


def _json_value(text: str) -> Any:
    if not text.strip():
        raise ReplyParseError("the reply has no text; expected a JSON value")
    try:
        return extract_json(text)
    except JSONExtractionError as exc:
        raise ReplyParseError(str(exc)) from exc


def explain_validation(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors()[:10]:
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        lines.append(f"- {where}: {err['msg']}")
    return "the value does not match the expected shape:\n" + "\n".join(lines)


# ---------------------------------------------------------------------------------------------- XML


class XmlParser(ResponseParser[T]):
    """Reads `<Root><field>…</field>…</Root>`; nested models are nested elements, list items are
    `<item>` elements. Prose or code fences around the document are ignored."""

    name: ParserName = "xml"

    def __init__(self, model_type: type[T]) -> None:
        if not (isinstance(model_type, type) and issubclass(model_type, BaseModel)):
            raise TypeError(f"XmlParser needs a pydantic model type, got {model_type!r}")
        self.model_type = model_type
        self.root = model_type.__name__
        self.schema_name = self.root
        self.schema = model_type.model_json_schema()

    def instructions(self) -> str:
        fields = "\n".join(f"  <{name}>…</{name}>" for name in self.schema.get("properties", {}))
        return (
            f"Reply with only an XML document of this form (escape &, < and > in text; list items as <item>):\n"
            f"<{self.root}>\n{fields}\n</{self.root}>\n"
            f"The values must satisfy this JSON Schema:\n{json.dumps(self.schema, ensure_ascii=False)}"
        )

    def parse(self, text: str) -> T:
        match = re.search(rf"<{re.escape(self.root)}\b.*</{re.escape(self.root)}\s*>", text, re.DOTALL)
        if match is None:
            raise ReplyParseError(f"the reply has no <{self.root}>…</{self.root}> element")
        try:
            element = ElementTree.fromstring(match.group(0))
        except ElementTree.ParseError as exc:
            raise ReplyParseError(f"the XML is not well-formed: {exc}") from exc
        data = _element_value(element)
        if not isinstance(data, dict):
            data = {}
        try:
            return self.model_type.model_validate(_drop_empty(data))  # type: ignore[attr-defined, no-any-return]
        except ValidationError as exc:
            raise ReplyParseError(explain_validation(exc)) from exc


def _element_value(element: ElementTree.Element) -> Any:
    children = list(element)
    if not children:
        return (element.text or "").strip()
    if all(child.tag == "item" for child in children):
        return [_element_value(child) for child in children]
    data: dict[str, Any] = {}
    for child in children:
        value = _element_value(child)
        if child.tag in data:  # a repeated tag is a list
            previous = data[child.tag]
            data[child.tag] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            data[child.tag] = value
    return data


def _drop_empty(data: dict[str, Any]) -> dict[str, Any]:
    """An empty element means "no value": let the field's default (or its validation error) decide."""
    return {k: v for k, v in data.items() if v != ""}


# ---------------------------------------------------------------------------------------------- text


class TextParser(ResponseParser[str]):
    """The reply text, stripped; an empty reply is an error (re-asked like any invalid reply)."""

    name: ParserName = "text"
    schema_name = "text"

    def parse(self, text: str) -> str:
        value = text.strip()
        if not value:
            raise ReplyParseError("the reply is empty; expected text")
        return value


# ---------------------------------------------------------------------------------------------- choice


def parser_for(output_type: type[Any]) -> ResponseParser[Any]:
    if isinstance(output_type, type) and issubclass(output_type, str):
        return TextParser()
    if isinstance(output_type, type) and issubclass(output_type, XmlModel):
        return XmlParser(output_type)
    return JsonParser(output_type)


def parser_named(name: ParserName, output_type: type[Any]) -> ResponseParser[Any]:
    if name == "text":
        if output_type is not str:
            raise TypeError(f"the text parser returns str, but the output type is {output_type!r}")
        return TextParser()
    if name == "xml":
        return XmlParser(output_type)
    return JsonParser(output_type)

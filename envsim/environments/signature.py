"""Deriving a tool's JSON Schema from a Python function, and binding JSON arguments back to it.

Type hints become JSON Schema through pydantic (Optional, Literal, list[...], dict[...], pydantic models,
enums, defaults); per-argument descriptions come from the docstring (Google, reST, numpydoc). A
parameter named `state` is not an argument: it receives the environment state.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import docstring_parser
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from envsim.errors import ConfigError
from envsim.messages import ToolSpec

STATE_PARAMETER = "state"
STATE_PARAMETER_ATTRIBUTE = "__envsim_state_parameter__"


@dataclass(frozen=True)
class FunctionSignature:
    """How to call a tool function: its argument model and whether it wants the state."""

    name: str
    description: str
    parameters: dict[str, Any]
    wants_state: bool
    accepts_extra: bool  # has **kwargs
    model: type[BaseModel]
    aliases: dict[str, str]  # internal field name -> argument name
    state_parameter: str = STATE_PARAMETER  # the parameter that receives the state (when wants_state)

    def bind(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """JSON arguments -> keyword arguments with Python values (pydantic models built, etc.).

        Raises ValueError with a readable reason when they do not fit the signature (possible when the
        config's explicit `parameters` differ from the function)."""
        try:
            instance = self.model.model_validate(arguments)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'/'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}" for e in exc.errors()[:5]
            )
            raise ValueError(f"the arguments do not fit the function {self.name}(): {problems}") from exc
        kwargs = {self.aliases[field]: getattr(instance, field) for field in instance.model_fields_set}
        # Parameters with defaults that were not sent keep the function's own default.
        if self.accepts_extra and instance.model_extra:
            kwargs.update(instance.model_extra)
        return kwargs


def tool_spec_from_function(
    fn: Callable[..., Any],
    *,
    name: str | None = None,
    description: str | None = None,
    read_only: bool = False,
    output_schema: dict[str, Any] | None = None,
) -> ToolSpec:
    """A ToolSpec derived from `fn`'s signature and docstring; explicit arguments win."""
    signature = function_signature(fn)
    return ToolSpec(
        name=name or signature.name,
        description=description if description is not None else signature.description,
        parameters=signature.parameters,
        output_schema=output_schema,
        read_only=read_only,
    )


@functools.lru_cache(maxsize=1024)
def function_signature(fn: Callable[..., Any]) -> FunctionSignature:
    """Analyse `fn` once (cached: every conversation builds fresh environments from the same functions)."""
    name = getattr(fn, "__name__", "tool")
    try:
        signature = inspect.signature(fn)
        hints = typing.get_type_hints(fn, include_extras=True)
    except (TypeError, ValueError, NameError) as exc:
        raise ConfigError(
            f"cannot read the signature of tool function {name!r}: {type(exc).__name__}: {exc}",
            hint="give the function resolvable type hints, or set `parameters` explicitly in the config",
        ) from exc
    doc = docstring_parser.parse(inspect.getdoc(fn) or "")
    arg_docs = {p.arg_name: p.description or "" for p in doc.params}
    state_parameter = getattr(fn, STATE_PARAMETER_ATTRIBUTE, STATE_PARAMETER)

    fields: dict[str, Any] = {}
    aliases: dict[str, str] = {}
    wants_state = False
    accepts_extra = False
    for index, parameter in enumerate(signature.parameters.values()):
        if parameter.name == state_parameter:
            wants_state = True
            continue
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            accepts_extra = True
            continue
        if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            continue
        if parameter.kind is inspect.Parameter.POSITIONAL_ONLY:
            raise ConfigError(
                f"tool function {name!r}: parameter {parameter.name!r} is positional-only; "
                "tools receive their arguments by keyword",
                hint=f"remove the `/` from the signature of {name}()",
            )
        annotation = hints.get(parameter.name, Any)
        default = ... if parameter.default is inspect.Parameter.empty else parameter.default
        field_name = f"arg{index}"  # aliases let arguments like `json` or `_id` be field names safely
        aliases[field_name] = parameter.name
        fields[field_name] = (
            annotation,
            Field(default, alias=parameter.name, description=arg_docs.get(parameter.name) or None),
        )

    config = ConfigDict(extra="allow" if accepts_extra else "forbid", arbitrary_types_allowed=True)
    model = create_model(f"{name}_arguments", __config__=config, **fields)
    try:
        schema = model.model_json_schema(by_alias=True)
    except Exception as exc:  # pydantic cannot express some types (e.g. arbitrary classes) in JSON Schema
        raise ConfigError(
            f"tool function {name!r}: its type hints cannot be expressed as JSON Schema ({exc})",
            hint="use JSON-friendly types (str, int, float, bool, list, dict, Literal, pydantic models) "
            "or set `parameters` explicitly in the config",
        ) from exc
    description = "\n\n".join(p for p in (doc.short_description, doc.long_description) if p)
    return FunctionSignature(
        name=name,
        description=description,
        parameters=_clean_schema(schema),
        wants_state=wants_state,
        accepts_extra=accepts_extra,
        model=model,
        aliases=aliases,
        state_parameter=state_parameter,
    )


def _clean_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Drop pydantic's generated titles (noise for a model reading the tool) but keep `$defs`."""
    schema = dict(schema)
    schema.pop("title", None)
    properties = schema.get("properties", {})
    schema["properties"] = {
        key: {k: v for k, v in prop.items() if k != "title"} if isinstance(prop, dict) else prop
        for key, prop in properties.items()
    }
    schema.setdefault("type", "object")
    return schema

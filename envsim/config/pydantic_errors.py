"""Turn pydantic ValidationErrors into plain-words ConfigErrors (what is wrong, where, how to fix).

Pydantic's own messages ("Extra inputs are not permitted") are written for developers; users get
"unknown key 'foo'" plus a did-you-mean from the keys allowed at that very spot.
"""

from __future__ import annotations

import types
import typing
from enum import Enum
from typing import Any

from pydantic import BaseModel, ValidationError

from envsim.config.locations import Loc
from envsim.config.spellings import did_you_mean

# Keys users bring from oumi that envsim deliberately does not support, and what to do instead.
FOREIGN_KEY_HINTS = {
    "env_kwargs": "env_kwargs belongs to an environment (oumi spelling), next to env_type",
    "source_path": "source_path is set by envsim itself; remove it from the file",
}


class LocatedError:
    """One error with its location as a tuple (translated and rendered by the loader)."""

    __slots__ = ("hint", "loc", "message")

    def __init__(self, loc: Loc, message: str, hint: str | None = None) -> None:
        self.loc = loc
        self.message = message
        self.hint = hint

    def __repr__(self) -> str:
        return f"LocatedError({self.loc!r}, {self.message!r}, {self.hint!r})"


def explain_validation_error(exc: ValidationError, model: type[BaseModel], prefix: Loc = ()) -> list[LocatedError]:
    """One LocatedError per pydantic error, `prefix` prepended to each location."""
    out: list[LocatedError] = []
    seen: set[tuple[Loc, str]] = set()
    for error in exc.errors(include_url=False):
        loc = tuple(part for part in error["loc"] if isinstance(part, str | int))
        located = _explain(error, loc, model)
        key = (loc, located.message)
        if key in seen:
            continue
        seen.add(key)
        located.loc = prefix + located.loc
        out.append(located)
    return out


def _explain(error: Any, loc: Loc, model: type[BaseModel]) -> LocatedError:
    kind = error["type"]
    got = error.get("input")
    ctx = error.get("ctx") or {}
    if kind == "extra_forbidden":
        key = str(loc[-1]) if loc else "?"
        allowed = allowed_keys(model, loc[:-1])
        hint = FOREIGN_KEY_HINTS.get(key)
        if hint is None and allowed:
            suggestion = did_you_mean(key, allowed)
            hint = f"did you mean '{suggestion}'?" if suggestion else f"allowed keys here: {', '.join(allowed)}"
        return LocatedError(loc, f"unknown key '{key}'", hint)
    if kind == "missing":
        return LocatedError(loc, f"required key '{loc[-1] if loc else '?'}' is missing", f"add `{loc[-1]}:`")
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return LocatedError(loc, f"expected a mapping (key: value pairs), got {describe(got)}")
    if kind in ("list_type", "tuple_type", "set_type"):
        return LocatedError(loc, f"expected a list, got {describe(got)}", _list_hint(got))
    if kind in ("enum", "literal_error"):
        expected = str(ctx.get("expected", "")).replace(" or ", ", ")
        choices = [c.strip().strip("'\"") for c in expected.split(",") if c.strip()]
        suggestion = did_you_mean(str(got), choices) if isinstance(got, str) else None
        hint = f"did you mean '{suggestion}'?" if suggestion else None
        return LocatedError(loc, f"expected one of {expected}, got {describe(got)}", hint)
    if kind in _TYPE_NAMES:
        message = f"expected {_TYPE_NAMES[kind]}, got {describe(got)}"
        hint = "quote it to make it a string" if kind == "string_type" and got is not None else None
        return LocatedError(loc, message, hint)
    if kind in _BOUNDS:
        return LocatedError(loc, f"must be {_BOUNDS[kind]} {_bound(ctx)}, got {describe(got)}")
    if kind == "value_error":
        return LocatedError(loc, str(ctx.get("error") or error["msg"]).removeprefix("Value error, "))
    return LocatedError(loc, f"{error['msg']} (got {describe(got)})")


_TYPE_NAMES = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "none_required": "nothing (null)",
}
_BOUNDS = {
    "greater_than_equal": ">=",
    "greater_than": ">",
    "less_than_equal": "<=",
    "less_than": "<",
}


def _bound(ctx: dict[str, Any]) -> str:
    for key in ("ge", "gt", "le", "lt"):
        if key in ctx:
            return str(ctx[key])
    return "?"


def _list_hint(got: Any) -> str | None:
    if isinstance(got, dict | str | int | float):
        return "write it as a YAML list (lines starting with '- ', or [a, b])"
    return None


def describe(value: Any) -> str:
    """A short, type-first description of a YAML value for error messages."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int):
        return f"an integer ({value})"
    if isinstance(value, float):
        return f"a number ({value})"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"a string ({shown!r})"
    if isinstance(value, list):
        return f"a list of {len(value)} item{'s' if len(value) != 1 else ''}"
    if isinstance(value, dict):
        keys = ", ".join(map(str, list(value)[:4])) + (", ..." if len(value) > 4 else "")
        return f"a mapping ({keys})" if value else "an empty mapping"
    return type(value).__name__


def allowed_keys(model: type[BaseModel], loc: Loc) -> list[str]:
    """The keys a mapping at `loc` (inside `model`) may hold, when that mapping is a pydantic model."""
    target = _model_at(model, loc)
    if target is None:
        return []
    return [name for name, info in target.model_fields.items() if info.exclude is not True]


def model_at(model: type[BaseModel], loc: Loc) -> type[BaseModel] | None:
    """The pydantic model class that validates the mapping at `loc`, or None if it is not a model."""
    return _model_at(model, loc)


def is_mapping_at(model: type[BaseModel], loc: Loc) -> bool:
    """True when the schema puts a mapping (a model or a dict field) at `loc`."""
    annotation = _annotation_at(model, loc)
    if annotation is _UNKNOWN:
        return False
    annotation = _unwrap_optional(annotation)
    return (isinstance(annotation, type) and issubclass(annotation, BaseModel)) or typing.get_origin(annotation) is dict


_UNKNOWN = object()


def _model_at(model: type[BaseModel], loc: Loc) -> type[BaseModel] | None:
    current = _unwrap_optional(_annotation_at(model, loc))
    if isinstance(current, type) and issubclass(current, BaseModel):
        return current
    return None


def _annotation_at(model: type[BaseModel], loc: Loc) -> Any:
    current: Any = model
    for part in loc:
        current = _unwrap_optional(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            info = current.model_fields.get(str(part))
            if info is None:
                return _UNKNOWN
            current = info.annotation
            continue
        origin = typing.get_origin(current)
        args = typing.get_args(current)
        if origin in (list, tuple, set) and isinstance(part, int) and args:
            current = args[0]
        elif origin is dict and len(args) == 2:
            current = args[1]
        else:
            return _UNKNOWN
    return current


def _unwrap_optional(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        models = [m for m in members if isinstance(m, type) and issubclass(m, BaseModel | Enum)]
        if len(members) == 1:
            return members[0]
        if len(models) == 1:
            return models[0]
    return annotation

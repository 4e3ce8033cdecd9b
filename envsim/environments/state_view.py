"""What a simulating model is shown of an environment's state: a *view*, as JSON Pointers and their values.

A synthetic stateful tool never needs the whole state of a realistic backend; it needs the records the
call is about. A view is either the whole state (pointer ""), the pointers and queries configured for the
tool (`state_view:`, templated from the call's arguments), or one envsim chose itself when the state is
too large for the prompt (see `state_view_auto`). The shown pointers are recorded on the step, and a
patch may only change what was shown (see `state_view_guard`).

Cost: a configured view resolves its pointers (O(depth) each) and scans only the collections its queries
name; nothing here walks the whole state.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from envsim.config.models import StateQueryConfig, StateViewConfig

WHOLE_STATE = ""  # the JSON Pointer of the whole document
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_MISSING = object()


@dataclass(frozen=True)
class StateView:
    """The shown parts of a state. `shown` maps pointer -> value; `absent` pointers were looked up and do
    not exist (the model is told so, and may create them); `outline` summarizes what was left out."""

    shown: dict[str, Any] = field(default_factory=dict)
    absent: list[str] = field(default_factory=list)
    outline: dict[str, Any] | None = None

    @classmethod
    def whole(cls, state: Any) -> StateView:
        return cls(shown={WHOLE_STATE: state})

    @property
    def is_whole(self) -> bool:
        return WHOLE_STATE in self.shown

    @property
    def pointers(self) -> list[str]:
        """Every pointer the model saw (present or absent), in the order shown: what the step records."""
        return [*self.shown, *self.absent]


# --------------------------------------------------------------------------- JSON Pointer helpers


def escape_token(token: str) -> str:
    """RFC 6901 escaping of one reference token."""
    return token.replace("~", "~0").replace("/", "~1")


def split_pointer(pointer: str) -> list[str]:
    if pointer == WHOLE_STATE:
        return []
    if not pointer.startswith("/"):
        raise ValueError(f"a JSON Pointer must start with '/' (or be empty), got {pointer!r}")
    return [token.replace("~1", "/").replace("~0", "~") for token in pointer[1:].split("/")]


def is_within(pointer: str, ancestor: str) -> bool:
    """Whether `pointer` is `ancestor` or lies under it (token-wise: /orders/1 is not within /orders/10)."""
    return ancestor == WHOLE_STATE or pointer == ancestor or pointer.startswith(ancestor + "/")


def resolve(state: Any, pointer: str) -> Any:
    """The value at `pointer`, or `_MISSING`; O(depth)."""
    current = state
    try:
        tokens = split_pointer(pointer)
    except ValueError:
        return _MISSING
    for token in tokens:
        if isinstance(current, dict):
            if token not in current:
                return _MISSING
            current = current[token]
        elif isinstance(current, list):
            if not token.isdigit() or int(token) >= len(current):
                return _MISSING
            current = current[int(token)]
        else:
            return _MISSING
    return current


def exists(state: Any, pointer: str) -> bool:
    return resolve(state, pointer) is not _MISSING


# --------------------------------------------------------------------------- configured views


def template_names(template: str) -> list[str]:
    """The argument names a pointer template uses (`/orders/{order_id}` -> ["order_id"])."""
    return _PLACEHOLDER.findall(template)


def expand_pointer(template: str, arguments: Mapping[str, Any]) -> list[str]:
    """Concrete pointers for a template: each placeholder takes its argument (escaped per RFC 6901); a list
    argument gives one pointer per element; a missing argument (optional, not given) gives none."""
    results = [""]
    position = 0
    for match in _PLACEHOLDER.finditer(template):
        literal = template[position : match.start()]
        value = arguments.get(match.group(1), _MISSING)
        if value is _MISSING or value is None:
            return []
        values = value if isinstance(value, list) else [value]
        tokens = [escape_token(_as_text(v)) for v in values if not isinstance(v, (dict, list))]
        results = [prefix + literal + token for prefix in results for token in tokens]
        position = match.end()
    return [prefix + template[position:] for prefix in results]


def configured_view(state: Any, config: StateViewConfig, arguments: Mapping[str, Any]) -> StateView:
    """The view a tool's `state_view:` config selects for this call."""
    shown: dict[str, Any] = {}
    absent: list[str] = []
    for template in config.pointers:
        for pointer in expand_pointer(template, arguments):
            if pointer in shown or pointer in absent:
                continue
            value = resolve(state, pointer)
            if value is _MISSING:
                absent.append(pointer)
            else:
                shown[pointer] = value
    for query in config.queries:
        for pointer, record in query_records(state, query, arguments):
            shown.setdefault(pointer, record)
    return StateView(shown=shown, absent=absent)


def query_records(state: Any, query: StateQueryConfig, arguments: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """(pointer, record) of the records of `query.collection` matching every `where` condition."""
    collection = resolve(state, query.collection)
    if collection is _MISSING:
        return
    conditions = [(field_name, _where_value(value, arguments)) for field_name, value in query.where.items()]
    if any(value is _MISSING for _name, value in conditions):
        return  # a condition's argument was not given: the query selects nothing rather than everything
    items = (
        collection.items()
        if isinstance(collection, dict)
        else enumerate(collection)
        if isinstance(collection, list)
        else ()
    )
    found = 0
    for key, record in items:
        if all(_field(record, name) == value for name, value in conditions):
            yield f"{query.collection}/{escape_token(str(key))}", record
            found += 1
            if found >= query.limit:
                return


def _where_value(value: Any, arguments: Mapping[str, Any]) -> Any:
    if not isinstance(value, str):
        return value
    whole = _PLACEHOLDER.fullmatch(value)
    if whole is not None:
        return arguments.get(whole.group(1), _MISSING)  # typed: an integer argument matches an integer field
    missing = [name for name in template_names(value) if name not in arguments]
    if missing:
        return _MISSING
    return _PLACEHOLDER.sub(lambda m: _as_text(arguments[m.group(1)]), value)


def _field(record: Any, name: str) -> Any:
    if name.startswith("/"):
        return resolve(record, name)
    return record.get(name, _MISSING) if isinstance(record, dict) else _MISSING


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


# --------------------------------------------------------------------------- rendering


def render_view(view: StateView) -> str:
    """The view as prompt text. Compact JSON: the view's size is what the token budget counts."""
    if view.is_whole:
        return "Current state:\n" + _dump(view.shown[WHOLE_STATE])
    parts = [
        "State view (only these parts of the state are shown to you, as JSON Pointer -> current value):\n"
        + _dump(view.shown)
    ]
    if view.absent:
        parts.append("Not in the state (these pointers do not exist): " + ", ".join(view.absent))
    if view.outline is not None:
        parts.append("Outline of the rest of the state (not shown; you cannot change it):\n" + _dump(view.outline))
    return "\n".join(parts)


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)

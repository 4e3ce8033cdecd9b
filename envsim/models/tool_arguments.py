"""Repairing tool-call arguments that are almost JSON, as small models write them.

`{'city': 'Paris',}` (single quotes, a trailing comma), unquoted keys, Python's True/None: the intent is
plain, so the arguments are rewritten as the JSON object meant (with `json_repair`) and the original text
is kept on the message (`Message.repaired_arguments`). Anything ambiguous is left alone and stays a tool
error the assistant sees: text cut off before its closing brace (a truncated id is not an id), a repair
that invents keys the text does not contain, or a result that is not a JSON object.
"""

from __future__ import annotations

import json
from typing import Any


def repair_arguments(text: str) -> str | None:
    """The repaired arguments as compact JSON, or None when `text` is valid JSON already or cannot be
    repaired unambiguously."""
    stripped = text.strip()
    if not stripped:
        return None
    try:
        json.loads(stripped)
        return None  # valid already (whether an object or not is the environment's to say)
    except ValueError:
        pass
    if not (stripped.startswith("{") and stripped.endswith("}")):
        return None  # not an object, or cut off
    try:
        import json_repair
    except ImportError:  # an optional nicety: without it the arguments stay a tool error
        return None
    try:
        value: Any = json_repair.loads(stripped)
    except Exception:
        return None
    if not isinstance(value, dict) or not value:
        return None
    if not all(isinstance(key, str) and key in stripped for key in _keys(value)):
        return None
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _keys(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [*value.keys(), *(k for v in value.values() for k in _keys(v))]
    if isinstance(value, list):
        return [k for v in value for k in _keys(v)]
    return []

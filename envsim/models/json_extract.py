"""Tolerant extraction of a JSON value from model text (fences, prose around it, trailing junk)."""

from __future__ import annotations

import json
import re
from typing import Any

_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)


class JSONExtractionError(ValueError):
    """No JSON value could be found; the message says why, for re-asking the model."""


def extract_json(text: str) -> Any:
    """Return the first JSON value in `text`.

    Tries, in order: the whole text; each fenced code block; the first balanced `{...}` or `[...]`
    starting at each opening bracket. Raises JSONExtractionError with the parser's complaint.
    """
    stripped = text.strip()
    if not stripped:
        raise JSONExtractionError("the reply is empty; expected a JSON value")
    try:
        return json.loads(stripped)
    except json.JSONDecodeError as exc:
        first_error = f"{exc.msg} at line {exc.lineno} column {exc.colno}"
    for block in _FENCE.findall(stripped):
        try:
            return json.loads(block.strip())
        except json.JSONDecodeError:
            continue
    decoder = json.JSONDecoder()
    for match in re.finditer(r"[\[{]", stripped):
        try:
            value, _ = decoder.raw_decode(stripped, match.start())
        except json.JSONDecodeError:
            continue
        return value
    raise JSONExtractionError(f"the reply is not valid JSON ({first_error}) and contains no JSON object")

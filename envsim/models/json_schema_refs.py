"""JSON Schemas with their local `$ref`s inlined, as sent on the wire for structured output.

pydantic puts nested models in `$defs` and points at them with `{"$ref": "#/$defs/Name"}`. OpenAI follows
those, but the grammar compilers of local servers (llama.cpp's GBNF converter, some vLLM/SGLang backends,
Ollama) often do not, and then constrain the reply to nothing useful or answer an error. Inlining gives the
same schema without references. A recursive definition cannot be inlined: its references (and `$defs`) are
kept as they are.
"""

from __future__ import annotations

from typing import Any

_DEF_KEYS = ("$defs", "definitions")


def inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """A copy of `schema` with every non-recursive local `#/$defs/...` (or `#/definitions/...`) reference
    replaced by its definition; `$defs` is dropped when nothing refers to it any more."""
    defs: dict[str, Any] = {}
    for key in _DEF_KEYS:
        table = schema.get(key)
        if isinstance(table, dict):
            defs.update({f"#/{key}/{name}": value for name, value in table.items()})
    if not defs:
        return schema
    kept: set[str] = set()
    inlined = _inline(schema, defs, (), kept)
    assert isinstance(inlined, dict)
    if not kept:
        for key in _DEF_KEYS:
            inlined.pop(key, None)
    return inlined


def _inline(node: Any, defs: dict[str, Any], stack: tuple[str, ...], kept: set[str]) -> Any:
    if isinstance(node, list):
        return [_inline(item, defs, stack, kept) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref in defs:
        if ref in stack:  # recursion: keep this reference
            kept.add(ref)
            return dict(node)
        target = _inline(defs[ref], defs, (*stack, ref), kept)
        siblings = {k: _inline(v, defs, stack, kept) for k, v in node.items() if k != "$ref"}
        return {**target, **siblings} if isinstance(target, dict) else target
    return {
        key: (value if key in _DEF_KEYS and not stack else _inline(value, defs, stack, kept))
        for key, value in node.items()
    }

"""The view envsim chooses itself when a tool has none configured and the whole state would not fit.

Tokens are estimated as characters of compact JSON / 4 (the usual rule of thumb for English and JSON
with GPT/Claude tokenizers; real counts differ by 10-30%). The size check stops walking the state as
soon as the budget is exceeded, so it costs O(budget), not O(state).

The chosen view, in priority order, within the character budget:
1. records of the state's top-level collections whose key (or `id` / `*_id` field, for arrays of records)
   equals a value of the call's arguments;
2. the same for ids mentioned in the recent conversation (newest first), when the history is given;
3. records those records refer to by key (a user's order ids -> the orders), one hop;
4. small top-level values (settings, counters) are shown whole.
Everything else is summarized in an outline: per collection its size, the keys shown and a few sample
keys, so the model knows what exists without seeing it.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from envsim.environments.state_view import StateView, escape_token
from envsim.messages import Message

CHARS_PER_TOKEN = 4
SMALL_VALUE_CHARS = 200  # top-level values at most this long are shown whole
SAMPLE_KEYS = 3
MAX_NEEDLES = 64
HISTORY_MESSAGES = 8  # how far back the conversation is searched for ids
_ID_TOKEN = re.compile(r"#?[A-Za-z0-9][A-Za-z0-9_\-.]*[0-9][A-Za-z0-9_\-]*")


def estimate_tokens(text: str) -> int:
    return -(-len(text) // CHARS_PER_TOKEN)


def larger_than(value: Any, limit_chars: int) -> bool:
    """Whether the JSON of `value` (as the prompt shows it: `json.dumps` separators) is longer than about
    `limit_chars` (string escapes are not counted); walks at most ~limit_chars of it."""
    total = 0
    pending: list[Any] = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            total += 2 + 2 * max(len(item) - 1, 0)  # braces and ", " separators
            for key, child in item.items():  # checked per member: a wide object must not be walked whole
                total += len(key) + 4  # "key": (quotes, ": ")
                pending.append(child)
                if total > limit_chars:
                    return True
        elif isinstance(item, list):
            total += 2 + 2 * max(len(item) - 1, 0)  # brackets and ", " separators
            if total > limit_chars:
                return True
            pending.extend(item)
        elif isinstance(item, str):
            total += len(item) + 2
        else:
            total += len(json.dumps(item))
        if total > limit_chars:
            return True
    return False


def auto_view(
    state: dict[str, Any],
    arguments: Mapping[str, Any],
    history: Sequence[Message] | None,
    budget_tokens: int,
) -> StateView:
    """A view of `state` for this call whose rendering takes about `budget_tokens` at most."""
    budget = max(0, budget_tokens) * CHARS_PER_TOKEN
    collections = {key: value for key, value in state.items() if _is_collection(value)}
    shown: dict[str, Any] = {}
    used = 0

    def show(pointer: str, value: Any) -> bool:
        nonlocal used
        if pointer in shown:
            return False
        size = len(json.dumps(value, ensure_ascii=False)) + len(pointer) + 6
        if used + size > budget:
            return False
        shown[pointer] = value
        used += size
        return True

    for key, value in state.items():
        if key not in collections and not larger_than(value, SMALL_VALUE_CHARS):
            show("/" + escape_token(key), value)
    outline_reserve = 80 * len(collections) + 40
    budget -= min(outline_reserve, budget // 3)  # the outline must fit too

    indexes = {name: _RecordIndex(value) for name, value in collections.items()}
    matched: list[tuple[str, str]] = []  # (collection, record key), in priority order
    for needle in _needles(arguments, history):
        for name, index in indexes.items():
            key = index.find(needle)
            if key is not None and (name, key) not in matched:
                matched.append((name, key))
    for name, key in matched:
        show(_pointer(name, key), indexes[name].get(key))
    for name, key in matched:  # one hop: what the matched records refer to
        for needle in _strings(indexes[name].get(key), limit=200):
            for other, index in indexes.items():
                if other != name and index.has_key(needle):
                    show(_pointer(other, needle), index.get(needle))
    return StateView(shown=shown, outline=_outline(state, collections, shown))


def _is_collection(value: Any) -> bool:
    """An object of records (keyed by id) or an array of records: what ids select from."""
    if isinstance(value, dict):
        first = next(iter(value.values()), None)
        return isinstance(first, dict)
    if isinstance(value, list):
        return bool(value) and isinstance(value[0], dict)
    return False


class _RecordIndex:
    """Record lookup by key (objects: O(1)) or by `id` / `*_id` field (arrays: indexed on first use)."""

    def __init__(self, collection: dict[str, Any] | list[Any]) -> None:
        self.collection = collection
        self._by_id: dict[str, str] | None = None

    def find(self, needle: str) -> str | None:
        if isinstance(self.collection, dict):
            return needle if needle in self.collection else None
        if self._by_id is None:
            self._by_id = {}
            for position, record in enumerate(self.collection):
                if isinstance(record, dict):
                    for field, value in record.items():
                        if (field == "id" or field.endswith("_id")) and isinstance(value, (str, int)):
                            self._by_id.setdefault(str(value), str(position))
        return self._by_id.get(needle)

    def has_key(self, needle: str) -> bool:
        return isinstance(self.collection, dict) and needle in self.collection

    def get(self, key: str) -> Any:
        return self.collection[key] if isinstance(self.collection, dict) else self.collection[int(key)]


def _pointer(collection: str, key: str) -> str:
    return f"/{escape_token(collection)}/{escape_token(key)}"


def _needles(arguments: Mapping[str, Any], history: Sequence[Message] | None) -> list[str]:
    """Values the call is about: the arguments' scalars, then id-like tokens of the recent conversation."""
    found: list[str] = []
    for value in _strings(dict(arguments), limit=MAX_NEEDLES):
        if value not in found:
            found.append(value)
    for message in reversed(list(history or [])[-HISTORY_MESSAGES:]):
        texts = [message.content or ""] + [call.function.arguments for call in message.tool_calls or []]
        for text in texts:
            for token in _ID_TOKEN.findall(text):
                if token not in found and len(found) < MAX_NEEDLES:
                    found.append(token)
    return found


def _strings(value: Any, *, limit: int) -> Iterator[str]:
    """String (and integer) leaves of a JSON value, depth first, at most `limit` of them."""
    pending = [value]
    count = 0
    while pending and count < limit:
        item = pending.pop(0)
        if isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, str) and item:
            count += 1
            yield item
        elif isinstance(item, int) and not isinstance(item, bool):
            count += 1
            yield str(item)


def _outline(state: Mapping[str, Any], collections: Mapping[str, Any], shown: Mapping[str, Any]) -> dict[str, Any]:
    """Per top-level value not shown whole: its kind and size; for collections a few sample keys."""
    outline: dict[str, Any] = {}
    for name, value in state.items():
        pointer = "/" + escape_token(name)
        if pointer in shown:
            continue
        if name not in collections:
            outline[pointer] = {"type": _json_type(value), "not shown": "too large"}
            continue
        prefix = pointer + "/"
        shown_keys = {p[len(prefix) :] for p in shown if p.startswith(prefix)}
        entry: dict[str, Any] = {
            "type": "object of records" if isinstance(value, dict) else "array of records",
            "count": len(value),
            "shown": len(shown_keys),
        }
        if isinstance(value, dict):
            head = itertools.islice(iter(value), SAMPLE_KEYS + len(shown_keys))
            entry["sample_keys"] = [key for key in head if escape_token(key) not in shown_keys][:SAMPLE_KEYS]
        outline[pointer] = entry
    return outline


def _json_type(value: Any) -> str:
    return "object" if isinstance(value, dict) else "array" if isinstance(value, list) else "value"

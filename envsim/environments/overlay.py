"""Copy-on-write JSON objects: a dict that overlays its changes on a base mapping it never mutates.

`OverlayDict` is the building block of both the committed state (`state_tree.CommittedDict`) and the
views tools get (`tracked_state.TrackedDict`). It is a real `dict` subclass, so `isinstance(x, dict)`,
`json.dumps`, `dict(x)`, `{**x}` and `==` work, but its entries live in `_changes` (keys set since the
overlay was made, in place or new), `_added` (keys appended after the base's keys) and `_deleted`
(base keys removed), over `_base`. Creating one is O(1) whatever the size of the base.

The real dict storage holds one marker entry so that C code that checks emptiness first (the json
encoder's `{}` fast path) does not take an overlay for empty; everything else goes through the Python
methods below, which C code calls for dict subclasses (`PyMapping_Items`, `dict(x)`, `**x`).
"""

from __future__ import annotations

import math
from collections.abc import ItemsView, Iterable, Iterator, KeysView, Mapping, ValuesView
from typing import Any

_MARK = object()  # the single real-storage key of an overlay (never a str, never visible through methods)
_MISSING = object()


class OverlayDict(dict):  # type: ignore[type-arg]
    __slots__ = ("_added", "_base", "_changes", "_deleted", "_len")

    def __init__(self, base: Mapping[str, Any]) -> None:
        dict.__init__(self)
        dict.__setitem__(self, _MARK, None)
        self._base = base
        self._changes: dict[str, Any] = {}
        self._added: dict[str, None] = {}  # ordered set: keys iterated after the base's keys
        self._deleted: dict[str, None] = {}  # ordered set: base keys no longer present at their base position
        self._len = len(base)

    # ------------------------------------------------------------------ raw access (no wrapping)

    def _has(self, key: Any) -> bool:
        if key in self._changes:
            return True
        return key not in self._deleted and key in self._base

    def _raw(self, key: Any) -> Any:
        value = self._changes.get(key, _MISSING)
        if value is not _MISSING:
            return value
        if key in self._deleted:
            raise KeyError(key)
        return self._base[key]

    def _raw_items(self) -> Iterator[tuple[str, Any]]:
        for key in self:
            yield key, self._raw(key)

    def _set(self, key: str, value: Any) -> None:
        if key in self._changes or (key not in self._deleted and key in self._base):
            self._changes[key] = value  # keeps its position, like a plain dict
            return
        self._changes[key] = value
        self._added[key] = None
        self._len += 1

    def _del(self, key: Any) -> None:
        if key in self._changes:
            del self._changes[key]
            if key in self._added:
                del self._added[key]
            else:
                self._deleted[key] = None
        elif key not in self._deleted and key in self._base:
            self._deleted[key] = None
        else:
            raise KeyError(key)
        self._len -= 1

    # ------------------------------------------------------------------ the read API of dict

    def __getitem__(self, key: Any) -> Any:
        return self._raw(key)

    def __contains__(self, key: object) -> bool:
        try:
            return self._has(key)
        except TypeError:  # unhashable, like dict
            raise

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[str]:
        deleted = self._deleted
        if deleted:
            for key in self._base:
                if key not in deleted:
                    yield key
        else:
            yield from self._base
        yield from self._added

    def __reversed__(self) -> Iterator[str]:
        return reversed(list(self))

    def keys(self) -> KeysView[str]:  # type: ignore[override]
        return KeysView(self)

    def values(self) -> ValuesView[Any]:  # type: ignore[override]
        return ValuesView(self)

    def items(self) -> ItemsView[str, Any]:  # type: ignore[override]
        return ItemsView(self)

    def get(self, key: Any, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def copy(self) -> dict[str, Any]:
        """A plain shallow copy, as `dict.copy` gives."""
        return {key: self[key] for key in self}

    def __copy__(self) -> dict[str, Any]:
        return self.copy()

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[str, Any]:
        return to_plain(self)  # type: ignore[no-any-return]

    def __reduce_ex__(self, protocol: Any) -> Any:
        return (dict, (to_plain(self),))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Mapping):
            return NotImplemented
        if len(other) != len(self):
            return False
        return all(not (key not in other or self[key] != other[key]) for key in self)

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr({key: self[key] for key in self})

    def __or__(self, other: Any) -> dict[str, Any]:
        if not isinstance(other, Mapping):
            return NotImplemented
        merged = self.copy()
        merged.update(other)
        return merged

    def __ror__(self, other: Any) -> dict[str, Any]:
        if not isinstance(other, Mapping):
            return NotImplemented
        merged = dict(other)
        merged.update(self.copy())
        return merged

    @classmethod
    def fromkeys(cls, iterable: Iterable[Any], value: Any = None) -> dict[Any, Any]:  # type: ignore[override]
        return dict.fromkeys(iterable, value)


# --------------------------------------------------------------------------- plain JSON


def json_key(key: Any) -> str:
    """A dict key as `json.dumps` writes it (non-string keys become strings, like a JSON round trip)."""
    if isinstance(key, str):
        return str.__str__(key)
    if key is True:
        return "true"
    if key is False:
        return "false"
    if key is None:
        return "null"
    if isinstance(key, int):
        return int.__repr__(key)
    if isinstance(key, float) and math.isfinite(key):
        return float.__repr__(key)
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")


def to_plain(value: Any) -> Any:
    """A fresh plain-JSON deep copy of `value` (overlays and views included); TypeError/ValueError if
    it is not JSON (NaN, sets, objects...). Tuples become lists and keys strings, as in a JSON round trip."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is float:
        if not math.isfinite(value):
            raise ValueError(f"Out of range float values are not JSON compliant: {value!r}")
        return value
    if kind is dict:
        return {key if type(key) is str else json_key(key): to_plain(item) for key, item in value.items()}
    if isinstance(value, OverlayDict):
        return {key: to_plain(item) for key, item in value._raw_items()}
    if isinstance(value, dict):
        return {json_key(key): to_plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_plain(item) for item in _raw_elements(value)]
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int.__index__(value)
    if isinstance(value, float):
        return to_plain(float(value))
    raise TypeError(f"Object of type {kind.__name__} is not JSON serializable")


def _raw_elements(value: list[Any] | tuple[Any, ...]) -> Iterable[Any]:
    # Views of lists wrap elements when iterated; their storage already holds the current elements.
    return list.__iter__(value) if isinstance(value, list) else value


def json_equal(a: Any, b: Any) -> bool:
    """Equality of JSON values, type-strict (1, 1.0 and True differ, as in JSON) and overlay-aware."""
    if isinstance(a, dict):
        if not isinstance(b, dict) or len(a) != len(b):
            return False
        for key, item in a._raw_items() if isinstance(a, OverlayDict) else a.items():
            if key not in b:
                return False
            other = b._raw(key) if isinstance(b, OverlayDict) else b[key]
            if not json_equal(item, other):
                return False
        return True
    if isinstance(a, list):
        if not isinstance(b, list) or len(a) != len(b):
            return False
        return all(json_equal(x, y) for x, y in zip(list.__iter__(a), list.__iter__(b), strict=True))
    return type(a) is type(b) and bool(a == b)

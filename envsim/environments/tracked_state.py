"""The state a python tool sees: a copy-on-write view that records what the tool touched.

    view = open_view(committed_root, read_only=False)
    tool(state=view)                # plain dict/list code: view["orders"][oid]["status"] = "cancelled"
    patch = view_patch(view)        # RFC 6902 ops for exactly the touched paths, O(touched)

Nothing the tool does reaches the committed state: every container it reaches is wrapped on first
access in a `TrackedDict` (an overlay, O(1)) or a `TrackedList` (a shallow copy, O(length)), and its
changes stay in those wrappers. Rollback is dropping the view. A read-only view raises
`ReadOnlyStateError` on the first attempted write (and remembers it, in case the tool swallows it).

Limits (docs/state.md): arrays are shallow-copied when first reached (keep large collections as objects
keyed by id); `type(x) is dict` is False for views; a view is valid only during its tool call; C code
that reads dict storage directly (a few extensions) sees small objects (<= MIRROR_MAX_KEYS entries,
mirrored into the real storage) correctly but not large ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, SupportsIndex

from envsim.environments.json_diff import escape, json_diff
from envsim.environments.overlay import _MARK, OverlayDict, json_equal, json_key, to_plain

# Objects up to this size are mirrored into the real dict storage, so C-level readers (pydantic's
# model_validate, for one) see their entries; larger ones (whole collections) are overlay-only.
MIRROR_MAX_KEYS = 64

READ_ONLY_MESSAGE = "this tool is read-only and must not change the state; the change was discarded"


class ReadOnlyStateError(TypeError):
    """Raised when a read-only tool (or a finished call) tries to change the state."""


@dataclass
class ViewContext:
    read_only: bool
    closed: bool = False
    violation: str | None = None  # the first write a read-only tool attempted

    def check_write(self, what: str) -> None:
        if self.closed:
            raise ReadOnlyStateError(f"{what}: this state view belongs to a tool call that has ended")
        if self.read_only:
            if self.violation is None:
                self.violation = what
            raise ReadOnlyStateError(f"{what}: {READ_ONLY_MESSAGE}")


def _is_own(value: Any, ctx: ViewContext) -> bool:
    return isinstance(value, TrackedDict | TrackedList) and value._ctx is ctx


def _wrap(value: Any, ctx: ViewContext) -> Any:
    if isinstance(value, dict):
        return TrackedDict(value, ctx)
    if isinstance(value, list):
        return TrackedList(value, ctx)
    return value


def open_view(root: Mapping[str, Any], *, read_only: bool) -> TrackedDict:
    """A fresh view over `root` (which must not change while the view is in use)."""
    return TrackedDict(root, ViewContext(read_only=read_only))


def close_view(view: TrackedDict) -> None:
    """After the call: any later write (say from a timed-out thread) raises instead of landing."""
    view._ctx.closed = True


def view_patch(view: TrackedDict) -> list[dict[str, Any]]:
    """The JSON Patch from the view's base to its current content; applying it to the base gives
    `to_plain(view)`. Raises TypeError/ValueError when the tool stored something that is not JSON."""
    ops: list[dict[str, Any]] = []
    view._patch_into(ops, "")
    return ops


class TrackedDict(OverlayDict):
    __slots__ = ("_ctx", "_mirror", "_wrapped")

    def __init__(self, base: Mapping[str, Any], ctx: ViewContext) -> None:
        super().__init__(base)
        self._ctx = ctx
        self._wrapped: dict[str, None] = {}  # keys whose _changes entry is our wrapper of the base value
        self._mirror = len(base) <= MIRROR_MAX_KEYS
        if self._mirror:
            dict.__delitem__(self, _MARK)
            if type(base) is dict:
                dict.update(self, base)  # C: copies the entries into the real storage, no __setitem__
            else:
                raw = base._raw if isinstance(base, OverlayDict) else base.__getitem__
                for key in base:
                    dict.__setitem__(self, key, raw(key))

    # ------------------------------------------------------------------ reads wrap containers

    def __getitem__(self, key: Any) -> Any:
        value = self._changes.get(key, _ABSENT)
        if value is not _ABSENT:
            return value
        if key in self._deleted:
            raise KeyError(key)
        base = self._base
        value = base._raw(key) if isinstance(base, OverlayDict) else base[key]
        if isinstance(value, dict):
            value = TrackedDict(value, self._ctx)
        elif isinstance(value, list):
            value = TrackedList(value, self._ctx)
        else:
            return value  # a scalar: nothing to wrap or remember
        self._changes[key] = value
        self._wrapped[key] = None
        if self._mirror:
            dict.__setitem__(self, key, value)
        return value

    def _raw_items(self) -> Iterator[tuple[str, Any]]:
        base_raw = self._base._raw if isinstance(self._base, OverlayDict) else self._base.__getitem__
        changes = self._changes
        for key in self:
            value = changes.get(key, _ABSENT)
            yield key, (base_raw(key) if value is _ABSENT else value)

    # ------------------------------------------------------------------ writes

    def _set(self, key: str, value: Any) -> None:
        super()._set(key, value)
        self._wrapped.pop(key, None)
        if self._mirror:
            dict.__setitem__(self, key, value)

    def _del(self, key: Any) -> None:
        super()._del(key)
        self._wrapped.pop(key, None)
        if self._mirror:
            dict.__delitem__(self, key)

    def __setitem__(self, key: Any, value: Any) -> None:
        self._ctx.check_write(f"setting key {key!r}")
        self._set(json_key(key), value)

    def __delitem__(self, key: Any) -> None:
        self._ctx.check_write(f"deleting key {key!r}")
        self._del(key)

    def pop(self, key: Any, *default: Any) -> Any:
        if not self._has(key):
            if default:
                return default[0]
            raise KeyError(key)
        self._ctx.check_write(f"popping key {key!r}")
        value = self[key]
        self._del(key)
        return value

    def popitem(self) -> tuple[str, Any]:
        if not self._len:
            raise KeyError("popitem(): dictionary is empty")
        key = next(reversed(self))
        return key, self.pop(key)

    def setdefault(self, key: Any, default: Any = None) -> Any:
        key = json_key(key)
        if self._has(key):
            return self[key]
        self[key] = default
        return default

    def update(self, other: Any = (), /, **kwargs: Any) -> None:
        pairs: Iterable[tuple[Any, Any]]
        if isinstance(other, Mapping) or hasattr(other, "keys"):
            pairs = [(key, other[key]) for key in other]
        else:
            pairs = list(other)
        for key, value in [*pairs, *kwargs.items()]:
            self[key] = value

    def clear(self) -> None:
        for key in list(self):
            del self[key]

    def __ior__(self, other: Any) -> TrackedDict:
        self.update(other)
        return self

    # ------------------------------------------------------------------ the patch

    def _patch_into(self, ops: list[dict[str, Any]], path: str) -> None:
        base = self._base
        base_raw = base._raw if isinstance(base, OverlayDict) else base.__getitem__
        for key in sorted({*self._changes, *self._deleted}):
            where = f"{path}/{escape(key)}"
            in_base = key in base
            if key in self._changes:
                value = self._changes[key]
                if key in self._wrapped:
                    value._patch_into(ops, where)
                    continue
                new = to_plain(value)
                if in_base:
                    if not json_equal(base_raw(key), new):
                        ops.append({"op": "replace", "path": where, "value": new})
                else:
                    ops.append({"op": "add", "path": where, "value": new})
            elif in_base:
                ops.append({"op": "remove", "path": where})


_ABSENT = object()


class TrackedList(list):  # type: ignore[type-arg]
    """A list view: its storage is a shallow copy of the base, containers wrapped when reached."""

    __slots__ = ("_base", "_ctx", "_own", "_structural", "_touched")

    def __init__(self, base: list[Any], ctx: ViewContext) -> None:
        list.__init__(self, list.__iter__(base))
        self._ctx = ctx
        self._base = base
        self._structural = False  # an insert/removal/reorder happened: the patch is a diff of this list
        self._touched: dict[int, bool] = {}  # index -> replaced (True) or wrapped (False)
        self._own: set[int] = set()  # ids of values the tool put in (returned as they are)

    def _element(self, index: int) -> Any:
        value = list.__getitem__(self, index)
        if isinstance(value, dict | list) and id(value) not in self._own and not _is_own(value, self._ctx):
            value = _wrap(value, self._ctx)
            list.__setitem__(self, index, value)
            if not self._structural:
                self._touched.setdefault(index, False)
        return value

    def _adopt(self, values: Iterable[Any]) -> list[Any]:
        adopted = list(values)
        self._own.update(id(v) for v in adopted if isinstance(v, dict | list))
        return adopted

    def _write(self, what: str, *, structural: bool) -> None:
        self._ctx.check_write(what)
        if structural:
            self._structural = True

    # ------------------------------------------------------------------ reads

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self._element(i) for i in range(*index.indices(len(self)))]
        position = list.__len__(self) + index if index < 0 else index
        if not 0 <= position < list.__len__(self):
            raise IndexError("list index out of range")
        return self._element(position)

    def __iter__(self) -> Iterator[Any]:
        for index in range(list.__len__(self)):
            yield self._element(index)

    def __reversed__(self) -> Iterator[Any]:
        for index in range(list.__len__(self) - 1, -1, -1):
            yield self._element(index)

    def copy(self) -> list[Any]:
        return list(self)

    def __copy__(self) -> list[Any]:
        return list(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> list[Any]:
        return to_plain(self)  # type: ignore[no-any-return]

    def __reduce_ex__(self, protocol: Any) -> Any:
        return (list, (to_plain(self),))

    def __add__(self, other: Any) -> list[Any]:  # type: ignore[override]
        return list(self) + list(other)

    def __mul__(self, count: SupportsIndex) -> list[Any]:
        return list(self) * count

    __rmul__ = __mul__

    # ------------------------------------------------------------------ writes

    def __setitem__(self, index: Any, value: Any) -> None:
        if isinstance(index, slice):
            self._write("assigning a slice", structural=True)
            list.__setitem__(self, index, self._adopt(value))
            return
        self._write(f"setting item {index}", structural=False)
        position = list.__len__(self) + index if index < 0 else index
        list.__setitem__(self, index, value)
        self._adopt([value])
        if not self._structural:
            self._touched[position] = True

    def __delitem__(self, index: Any) -> None:
        self._write("deleting an item", structural=True)
        list.__delitem__(self, index)

    def append(self, value: Any) -> None:
        self._write("appending", structural=True)
        list.append(self, value)
        self._adopt([value])

    def extend(self, values: Iterable[Any]) -> None:
        self._write("extending", structural=True)
        list.extend(self, self._adopt(values))

    def __iadd__(self, values: Iterable[Any]) -> TrackedList:  # type: ignore[override,misc]
        self.extend(values)
        return self

    def __imul__(self, count: SupportsIndex) -> TrackedList:  # type: ignore[override,misc]
        self._write("repeating", structural=True)
        list.__imul__(self, count)
        return self

    def insert(self, index: SupportsIndex, value: Any) -> None:
        self._write("inserting", structural=True)
        list.insert(self, index, value)
        self._adopt([value])

    def pop(self, index: SupportsIndex = -1) -> Any:
        value = self[index]
        self._write("popping", structural=True)
        list.pop(self, index)
        return value

    def remove(self, value: Any) -> None:
        self._write("removing", structural=True)
        list.remove(self, value)

    def clear(self) -> None:
        self._write("clearing", structural=True)
        list.clear(self)

    def sort(self, *, key: Any = None, reverse: bool = False) -> None:
        self._write("sorting", structural=True)
        list.sort(self, key=key, reverse=reverse)

    def reverse(self) -> None:
        self._write("reversing", structural=True)
        list.reverse(self)

    # ------------------------------------------------------------------ the patch

    def _patch_into(self, ops: list[dict[str, Any]], path: str) -> None:
        if self._structural:
            ops.extend(json_diff(to_plain(self._base), to_plain(self), path))
            return
        for index in sorted(self._touched):
            value = list.__getitem__(self, index)
            where = f"{path}/{index}"
            if not self._touched[index] and _is_own(value, self._ctx):
                value._patch_into(ops, where)
                continue
            new = to_plain(value)
            if not json_equal(list.__getitem__(self._base, index), new):
                ops.append({"op": "replace", "path": where, "value": new})

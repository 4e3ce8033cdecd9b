"""The committed state of one environment instance: a shared immutable base plus this episode's overlay.

`SharedState` is a catalog's initial state, copied, hashed (and validated) once per process and then
shared by every episode. `StateTree` is one episode's state over it: applying a patch copies on write
only the containers on the changed paths (objects become `CommittedDict` overlays, O(1); arrays become
`CommittedList` copies, O(length)) and keeps the Merkle hash (envsim.environments.merkle) up to date
along those paths, so a step costs what it touches. Plain containers inside a tree are never mutated;
that is what makes sharing the base (and the patch values) safe.

Only `StateTree.apply` changes a tree, and only with add/remove/replace operations that are already known
to apply (the state store applies every patch to a view first); the public mutators of committed nodes
raise so nobody changes the state behind the hash's back.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from envsim.environments.merkle import MODULUS, DigestCache, digest_of, entry_hash, object_digest, ref_of
from envsim.environments.overlay import OverlayDict, to_plain


class LayeredDigestCache(DigestCache):
    """A tree's own digests (of values its patches brought in) over the shared base's."""

    def __init__(self, shared: DigestCache) -> None:
        super().__init__()
        self._shared = shared

    def get(self, container: Any) -> tuple[str, int] | None:
        return self._shared.get(container) or super().get(container)


def _frozen(*_: Any, **__: Any) -> Any:
    raise TypeError("the committed state changes only through a step (a tool call or a state patch)")


class CommittedDict(OverlayDict):
    __slots__ = ("_cache", "_store", "_sum")  # _store: set on a root, the StateStore that owns it

    def __init__(self, base: dict[str, Any], cache: DigestCache) -> None:
        super().__init__(base)
        self._cache = cache
        self._sum = digest_of(base, cache)[1]

    def merkle_digest(self, cache: DigestCache | None = None) -> tuple[str, int]:
        return object_digest(self._len, self._sum), self._sum

    def put(self, key: str, value: Any) -> None:
        if self._has(key):
            self._sum -= entry_hash(key, ref_of(self._raw(key), self._cache))
        self._set(key, value)
        self._sum = (self._sum + entry_hash(key, ref_of(value, self._cache))) % MODULUS

    def drop(self, key: str) -> None:
        self._sum = (self._sum - entry_hash(key, ref_of(self._raw(key), self._cache))) % MODULUS
        self._del(key)

    def swap_child(self, key: str, child: Any) -> None:
        """Replace an entry by a node with the same content (no hash change)."""
        self._set(key, child)

    def rehash_entry(self, key: str, old_ref: str) -> None:
        self._sum = (
            self._sum - entry_hash(key, old_ref) + entry_hash(key, ref_of(self._raw(key), self._cache))
        ) % MODULUS

    __setitem__ = __delitem__ = pop = popitem = setdefault = update = clear = __ior__ = _frozen  # type: ignore[assignment]


class CommittedList(list):  # type: ignore[type-arg]
    __slots__ = ("_cache", "_digest")

    def __init__(self, base: list[Any], cache: DigestCache) -> None:
        list.__init__(self, base)
        self._cache = cache
        self._digest: str | None = digest_of(base, cache)[0]

    def merkle_digest(self, cache: DigestCache | None = None) -> tuple[str, int]:
        if self._digest is None:
            from envsim.environments.merkle import array_digest

            self._digest = array_digest([ref_of(v, self._cache) for v in list.__iter__(self)])
        return self._digest, 0

    def __deepcopy__(self, memo: dict[int, Any]) -> list[Any]:
        return to_plain(self)  # type: ignore[no-any-return]

    __setitem__ = __delitem__ = append = extend = insert = pop = remove = clear = sort = reverse = _frozen  # type: ignore[assignment]
    __iadd__ = __imul__ = _frozen  # type: ignore[assignment]


@dataclass
class SharedState:
    """An initial state shared by every episode that starts from it: never mutated after creation."""

    value: dict[str, Any]
    digests: DigestCache = field(default_factory=DigestCache)
    hash: str = ""
    _verdicts: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, state: dict[str, Any], *, copy_state: bool = True) -> SharedState:
        value = copy.deepcopy(state) if copy_state else state
        shared = cls(value=value)
        shared.hash = digest_of(value, shared.digests)[0]  # O(state), once; every later hash is O(change)
        return shared

    def verdict(self, key: str, compute: Any) -> list[str]:
        """Validation problems of this state for one schema (`key`), computed once."""
        if key not in self._verdicts:
            self._verdicts[key] = compute(self.value)
        return self._verdicts[key]


def parse_pointer(pointer: str) -> list[str]:
    """RFC 6901 reference tokens of a JSON Pointer ("" is the whole document)."""
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise ValueError(f"a JSON Pointer must be empty or start with '/', got {pointer!r}")
    return [token.replace("~1", "/").replace("~0", "~") for token in pointer[1:].split("/")]


def list_index(token: str, length: int, *, allow_end: bool) -> int:
    """The array index a token names; ValueError when it is not a valid one (RFC 6901 syntax)."""
    if token == "-" and allow_end:
        return length
    if not token.isdigit() or (len(token) > 1 and token[0] == "0") or not token.isascii():
        raise ValueError(f"{token!r} is not an array index")
    index = int(token)
    if index > length or (index == length and not allow_end):
        raise ValueError(f"index {index} is out of range (the array has {length} items)")
    return index


class StateTree:
    def __init__(self, shared: SharedState, owner: Any = None) -> None:
        self.shared = shared
        self._owner = owner
        self._cache = LayeredDigestCache(shared.digests)
        self.root = self._new_root(shared.value)

    def _new_root(self, value: dict[str, Any]) -> CommittedDict:
        root = CommittedDict(value, self._cache)
        root._store = self._owner
        return root

    @property
    def hash(self) -> str:
        return self.root.merkle_digest()[0]

    def materialize(self) -> dict[str, Any]:
        return to_plain(self.root)  # type: ignore[no-any-return]

    def apply(self, patch: list[dict[str, Any]]) -> None:
        """Apply add/remove/replace operations known to apply (see the module docstring)."""
        for operation in patch:
            op = operation["op"]
            tokens = parse_pointer(operation["path"])
            if not tokens:
                if op == "remove":
                    raise ValueError("the state itself cannot be removed")
                self.root = self._new_root(to_plain(operation["value"]))
                continue
            value = to_plain(operation["value"]) if op != "remove" else None
            self._apply_at(op, tokens, value)

    def _apply_at(self, op: str, tokens: list[str], value: Any) -> None:
        nodes: list[Any] = [self.root]
        for token in tokens[:-1]:
            nodes.append(self._writable_child(nodes[-1], token))
        old_refs = [ref_of(node, self._cache) for node in nodes[1:]]
        parent, key = nodes[-1], tokens[-1]
        if isinstance(parent, CommittedDict):
            if op == "remove":
                parent.drop(key)
            else:
                if op == "replace" and not parent._has(key):
                    raise KeyError(key)
                parent.put(key, value)
        else:
            index = list_index(key, len(parent), allow_end=op == "add")
            if op == "add":
                list.insert(parent, index, value)
            elif op == "remove":
                list.pop(parent, index)
            else:
                list.__setitem__(parent, index, value)
            parent._digest = None
        for depth in range(len(nodes) - 2, -1, -1):
            ancestor = nodes[depth]
            if isinstance(ancestor, CommittedDict):
                ancestor.rehash_entry(tokens[depth], old_refs[depth])
            else:
                ancestor._digest = None

    def _writable_child(self, parent: Any, token: str) -> Any:
        if isinstance(parent, CommittedDict):
            child = parent._raw(token)
            if isinstance(child, CommittedDict | CommittedList):
                return child
            node = self._own(child)
            parent.swap_child(token, node)
            return node
        index = list_index(token, len(parent), allow_end=False)
        child = list.__getitem__(parent, index)
        if isinstance(child, CommittedDict | CommittedList):
            return child
        node = self._own(child)
        list.__setitem__(parent, index, node)
        return node

    def _own(self, child: Any) -> Any:
        if isinstance(child, dict):
            return CommittedDict(child, self._cache)
        if isinstance(child, list):
            return CommittedList(child, self._cache)
        raise ValueError("the path goes through a value that is neither an object nor an array")

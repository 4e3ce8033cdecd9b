"""Paths inside a config file: `environment_config.environments[1].tools[0].deterministic_outputs[2].input`.

One format everywhere (error locations, `--set` overrides), with a parser and a formatter that
round-trip. Keys that are not plain identifiers are written in brackets with quotes: `lookup_table["a.b"]`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

Loc = tuple[str | int, ...]

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*\Z")
_TOKEN = re.compile(r"""\.?([A-Za-z_][A-Za-z0-9_\-]*)|\[(-?\d+)\]|\[("(?:[^"\\]|\\.)*")\]|\.(\d+)""")


def format_loc(loc: Loc) -> str:
    """`("a", 0, "b")` -> `a[0].b`; the empty path is the document itself (``)."""
    out: list[str] = []
    for part in loc:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif _IDENT.match(part):
            out.append(f".{part}" if out else part)
        else:
            out.append(f"[{json.dumps(part)}]")
    return "".join(out)


def parse_loc(text: str) -> Loc:
    """Inverse of `format_loc`. Also accepts `a.0.b` for list indices. Raises ValueError when malformed."""
    parts: list[str | int] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or (pos == 0 and text.startswith(".")):
            raise ValueError(f"cannot parse {text!r} at character {pos + 1}: expected a key or [index]")
        name, index, quoted, dotted_index = match.groups()
        if name is not None:
            parts.append(name)
        elif index is not None:
            parts.append(int(index))
        elif quoted is not None:
            parts.append(json.loads(quoted))
        else:
            parts.append(int(dotted_index))
        pos = match.end()
    return tuple(parts)


@dataclass
class PathMap:
    """Maps locations in the normalized document back to where they were written in the file.

    Normalization moves things (oumi's `env_kwargs.lookup_table.get_x` becomes
    `tools[0].deterministic_outputs`); errors are found on the normalized form but must name the
    path the user wrote. Each rename maps a normalized prefix to the original prefix.
    """

    renames: list[tuple[Loc, Loc]] = field(default_factory=list)

    def add(self, normalized: Loc, original: Loc) -> None:
        if normalized != original:
            self.renames.append((normalized, original))

    def extend(self, other: PathMap) -> None:
        self.renames.extend(other.renames)

    def to_original(self, loc: Loc) -> Loc:
        best: tuple[Loc, Loc] | None = None
        for normalized, original in self.renames:
            if loc[: len(normalized)] == normalized and (best is None or len(normalized) > len(best[0])):
                best = (normalized, original)
        if best is None:
            return loc
        return best[1] + loc[len(best[0]) :]

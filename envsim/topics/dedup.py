"""Near-duplicate detection for generated examples and topics: normalised text, then character
3-gram Jaccard similarity (embedding-free, so it runs offline and the same everywhere)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

_NON_WORD = re.compile(r"[^\w]+")


def normalize(text: str) -> str:
    return _NON_WORD.sub(" ", text.casefold()).strip()


def shingles(text: str, n: int = 3) -> frozenset[str]:
    norm = normalize(text)
    return frozenset(norm[i : i + n] for i in range(max(1, len(norm) - n + 1)))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


@dataclass
class NearDuplicateFilter:
    """Keeps texts unless one already kept is identical after normalising or at least `threshold` similar."""

    threshold: float = 0.85
    _kept: list[tuple[str, frozenset[str]]] = field(default_factory=list)
    _exact: dict[str, int] = field(default_factory=dict)

    def check(self, text: str) -> int | None:
        """The index of the kept text this one duplicates, or None (and then it is kept)."""
        norm = normalize(text)
        if norm in self._exact:
            return self._exact[norm]
        grams = shingles(text)
        for index, (_, other) in enumerate(self._kept):
            if jaccard(grams, other) >= self.threshold:
                return index
        self._exact[norm] = len(self._kept)
        self._kept.append((norm, grams))
        return None


def duplicate_topics(paths: Iterable[list[str]]) -> list[tuple[str, int]]:
    """Leaf topics that occur under more than one path: (topic, count)."""
    counts: dict[str, int] = {}
    for path in paths:
        counts[normalize(path[-1])] = counts.get(normalize(path[-1]), 0) + 1
    return sorted((topic, count) for topic, count in counts.items() if count > 1)

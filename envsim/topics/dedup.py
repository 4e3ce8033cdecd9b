"""Near-duplicate detection for generated examples and topics: normalised text, then character
3-gram Jaccard similarity (embedding-free, so it runs offline and the same everywhere)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from envsim.text_similarity import char_ngrams, jaccard, normalized


@dataclass
class NearDuplicateFilter:
    """Keeps texts unless one already kept is identical after normalising or at least `threshold` similar."""

    threshold: float = 0.85
    _kept: list[tuple[str, frozenset[str]]] = field(default_factory=list)
    _exact: dict[str, int] = field(default_factory=dict)

    def check(self, text: str) -> int | None:
        """The index of the kept text this one duplicates, or None (and then it is kept)."""
        norm = normalized(text)
        if norm in self._exact:
            return self._exact[norm]
        grams = char_ngrams(text)
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
        key = normalized(path[-1])
        counts[key] = counts.get(key, 0) + 1
    return sorted((topic, count) for topic, count in counts.items() if count > 1)

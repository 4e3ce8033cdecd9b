"""Embedding-free text diversity and near-duplicate detection, for generated pairs.

Words are lower-cased alphanumeric runs; char n-grams are taken over the normalized text. Everything
here is pure and deterministic, so figures are comparable across jobs and modes.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence

from envsim.pairs.types import DiversityReport

_WORD = re.compile(r"[0-9a-z]+(?:'[a-z]+)?")
NEAR_DUPLICATE_JACCARD = 0.8  # token sets this similar are the same input said again


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def normalized(text: str) -> str:
    """The text as a duplicate check sees it: lower case, words only, single spaces."""
    return " ".join(words(text))


def ngrams(tokens: Sequence[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def distinct_n(texts: Iterable[str], n: int) -> float:
    """Unique word n-grams over all word n-grams across `texts` (0.0 when there are none)."""
    total = 0
    unique: set[tuple[str, ...]] = set()
    for text in texts:
        grams = ngrams(words(text), n)
        total += len(grams)
        unique.update(grams)
    return len(unique) / total if total else 0.0


def jaccard(a: set[str], b: set[str]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def char_ngram_vector(text: str, n: int = 3) -> Counter[str]:
    padded = f" {normalized(text)} "
    return Counter(padded[i : i + n] for i in range(max(0, len(padded) - n + 1)))


def cosine(a: Counter[str], b: Counter[str]) -> float:
    if not a or not b:
        return 0.0
    dot = sum(count * b[gram] for gram, count in a.items() if gram in b)
    norm = math.sqrt(sum(c * c for c in a.values())) * math.sqrt(sum(c * c for c in b.values()))
    return dot / norm if norm else 0.0


def diversity_report(generated: Sequence[str], seeds: Sequence[str], *, duplicates_dropped: int = 0) -> DiversityReport:
    seed_sets = [set(words(s)) for s in seeds]
    seed_vectors = [char_ngram_vector(s) for s in seeds]
    jaccards: list[float] = []
    cosines: list[float] = []
    for text in generated:
        tokens = set(words(text))
        vector = char_ngram_vector(text)
        jaccards.append(max((jaccard(tokens, s) for s in seed_sets), default=0.0))
        cosines.append(max((cosine(vector, s) for s in seed_vectors), default=0.0))
    return DiversityReport(
        pairs=len(generated),
        distinct_1=round(distinct_n(generated, 1), 4),
        distinct_2=round(distinct_n(generated, 2), 4),
        seed_distinct_1=round(distinct_n(seeds, 1), 4),
        seed_distinct_2=round(distinct_n(seeds, 2), 4),
        mean_jaccard_to_nearest_seed=round(sum(jaccards) / len(jaccards), 4) if jaccards else 0.0,
        mean_char3_cosine_to_nearest_seed=round(sum(cosines) / len(cosines), 4) if cosines else 0.0,
        duplicates_dropped=duplicates_dropped,
    )


class Deduplicator:
    """Accepts a text unless it is an exact (normalized) or near (token Jaccard) duplicate of one already
    known: the seeds are known from the start, accepted texts join them."""

    def __init__(self, known: Iterable[str] = (), *, threshold: float = NEAR_DUPLICATE_JACCARD) -> None:
        self.threshold = threshold
        self._exact: set[str] = set()
        self._token_sets: list[set[str]] = []
        self.dropped = 0
        for text in known:
            self._remember(text)

    def accept(self, text: str) -> bool:
        key = normalized(text)
        if not key:
            self.dropped += 1
            return False
        tokens = set(key.split())
        if key in self._exact or any(jaccard(tokens, known) >= self.threshold for known in self._token_sets):
            self.dropped += 1
            return False
        self._remember(text)
        return True

    def _remember(self, text: str) -> None:
        key = normalized(text)
        self._exact.add(key)
        self._token_sets.append(set(key.split()))

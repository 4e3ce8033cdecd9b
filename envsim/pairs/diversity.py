"""Embedding-free text diversity and near-duplicate detection, for generated pairs.

Words are lower-cased alphanumeric runs; char n-grams are taken over the normalized text. Everything
here is pure and deterministic, so figures are comparable across jobs and modes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from envsim.pairs.types import DiversityReport
from envsim.text_similarity import char_ngram_vector, cosine, distinct_n, jaccard, normalized, words

NEAR_DUPLICATE_JACCARD = 0.8  # token sets this similar are the same input said again


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

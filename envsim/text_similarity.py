"""Embedding-free text similarity: words, normalised text, n-grams, Jaccard and cosine similarity.

Pure and deterministic, so figures compare across runs; used by the pairs jobs' diversity figures and
duplicate checks and by the topic generator's near-duplicate filter.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence

_WORD = re.compile(r"[0-9a-z]+(?:'[a-z]+)?")


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


def char_ngrams(text: str, n: int = 3) -> frozenset[str]:
    """The set of character n-grams of the normalised text (near-duplicate checks)."""
    return frozenset(char_ngram_vector(text, n))

"""Diversity figures and duplicate detection are exact on known texts."""

from __future__ import annotations

import pytest

from envsim.pairs.diversity import (
    Deduplicator,
    char_ngram_vector,
    cosine,
    distinct_n,
    diversity_report,
    jaccard,
    normalized,
)


def test_distinct_n_counts_unique_ngrams_over_all_texts() -> None:
    assert distinct_n(["a b c", "a b d"], 1) == pytest.approx(4 / 6)
    assert distinct_n(["a b c", "a b d"], 2) == pytest.approx(3 / 4)  # "a b" twice, "b c", "b d"
    assert distinct_n(["same words", "same words"], 2) == 0.5
    assert distinct_n([], 1) == 0.0


def test_similarity_measures() -> None:
    assert jaccard({"a", "b"}, {"b", "c"}) == pytest.approx(1 / 3)
    assert cosine(char_ngram_vector("Refund my order"), char_ngram_vector("refund my order!")) == pytest.approx(1.0)
    assert cosine(char_ngram_vector("abc"), char_ngram_vector("xyz")) == 0.0


def test_report_compares_generated_inputs_to_the_seeds() -> None:
    seeds = ["reset my password please", "where is my parcel"]
    copies = diversity_report(["Reset my password, please!"], seeds)
    novel = diversity_report(["quantum widgets dance tonight"], seeds)
    assert copies.mean_jaccard_to_nearest_seed == 1.0 and copies.mean_char3_cosine_to_nearest_seed == pytest.approx(1)
    assert novel.mean_jaccard_to_nearest_seed == 0.0
    assert novel.mean_char3_cosine_to_nearest_seed < 0.2
    assert copies.seed_distinct_1 == pytest.approx(7 / 8)  # "my" twice among 8 words
    assert novel.pairs == 1


def test_deduplicator_drops_seed_copies_and_near_duplicates() -> None:
    dedupe = Deduplicator(["Where is my parcel?"])
    assert not dedupe.accept("where is MY parcel")  # the same text, normalized
    assert dedupe.accept("How do I cancel my subscription today?")
    assert not dedupe.accept("How do I cancel my subscription, today")  # near duplicate of an accepted one
    assert dedupe.accept("Can I pay with a gift card?")
    assert not dedupe.accept("  ?! ")  # no words at all
    assert dedupe.dropped == 3
    assert normalized("It's  DONE!") == "it's done"

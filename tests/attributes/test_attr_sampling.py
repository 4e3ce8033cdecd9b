"""Sampled attributes: rates, unset-rate sharing, combinations, reproducibility."""

from __future__ import annotations

from collections import Counter

import pytest
from scipy.stats import chisquare

from envsim.attributes.sampling import AttributeSampler
from envsim.config.models import AttributeCombination, SampledAttribute
from envsim.errors import ConfigError


def attribute(attr_id: str, rates: dict[str, float | None]) -> SampledAttribute:
    return SampledAttribute.model_validate(
        {"id": attr_id, "possible_values": [{"id": k, "sample_rate": v} for k, v in rates.items()]}
    )


def counts(sampler: AttributeSampler, attr_id: str, n: int, seed: int = 7) -> Counter[str]:
    return Counter(sampler.sample(i, seed)[attr_id].value_id for i in range(n))


def test_rates_hold_statistically() -> None:
    sampler = AttributeSampler([attribute("tone", {"a": 0.6, "b": 0.3, "c": 0.1})], num_samples=1)
    n = 20_000
    seen = counts(sampler, "tone", n)
    observed = [seen["a"], seen["b"], seen["c"]]
    result = chisquare(observed, [0.6 * n, 0.3 * n, 0.1 * n])
    assert result.pvalue > 0.001, (observed, result)


def test_unset_rates_share_the_remainder_equally() -> None:
    sampler = AttributeSampler([attribute("tone", {"a": 0.5, "b": None, "c": None})], num_samples=1)
    n = 20_000
    seen = counts(sampler, "tone", n)
    result = chisquare([seen["a"], seen["b"], seen["c"]], [0.5 * n, 0.25 * n, 0.25 * n])
    assert result.pvalue > 0.001, seen


def test_all_unset_is_uniform_and_partial_sum_is_relative() -> None:
    uniform = counts(AttributeSampler([attribute("t", {"a": None, "b": None})], num_samples=1), "t", 10_000)
    assert abs(uniform["a"] / 10_000 - 0.5) < 0.03
    scaled = counts(AttributeSampler([attribute("t", {"a": 0.2, "b": 0.2})], num_samples=1), "t", 10_000)
    assert abs(scaled["a"] / 10_000 - 0.5) < 0.03


def test_rates_above_one_are_an_error_with_location() -> None:
    with pytest.raises(ConfigError) as info:
        AttributeSampler([attribute("ok", {"x": 1.0}), attribute("tone", {"a": 0.7, "b": 0.5})], num_samples=1)
    assert info.value.location == "strategy_params.sampled_attributes[1].possible_values"
    assert "1.2" in info.value.message


def test_float_noise_within_tolerance_is_accepted() -> None:
    AttributeSampler([attribute("t", {f"v{i}": 0.1 for i in range(10)})], num_samples=1)


def test_all_zero_rates_are_an_error() -> None:
    with pytest.raises(ConfigError, match="none can be sampled"):
        AttributeSampler([attribute("t", {"a": 0.0, "b": 0.0})], num_samples=1)


def test_same_seed_and_index_give_the_same_draw_in_any_order() -> None:
    attrs = [attribute("tone", {"a": None, "b": None, "c": None}), attribute("len", {"s": 0.2, "l": None})]
    forward = AttributeSampler(attrs, num_samples=50)
    backward = AttributeSampler(attrs, num_samples=50)
    first = [forward.sample(i, 3) for i in range(50)]
    second = [backward.sample(i, 3) for i in reversed(range(50))][::-1]
    assert first == second
    assert [forward.sample(i, 4) for i in range(50)] != first  # the seed matters


def combo_sampler(n: int, rate: float = 0.3) -> AttributeSampler:
    attrs = [attribute("tone", {"a": None, "b": None}), attribute("len", {"s": None, "l": None})]
    combos = [AttributeCombination(combination={"tone": "a", "len": "s"}, sample_rate=rate)]
    return AttributeSampler(attrs, combos, num_samples=n)


def test_combination_gets_exactly_its_rate() -> None:
    n = 1_000
    sampler = combo_sampler(n, 0.3)
    hits = [
        i for i in range(n) if {k: v.value_id for k, v in sampler.sample(i, 11).items()} == {"tone": "a", "len": "s"}
    ]
    assert len(hits) == 300  # exact, not approximately: other samples never land on the combination
    # The forced indices are spread over the run, not the first 300.
    assert max(hits) > 500
    assert sampler.forced_combination(hits[0], 11) == 0


def test_combination_assignment_is_reproducible_and_seeded() -> None:
    n = 200
    forced_a = [combo_sampler(n).forced_combination(i, 5) for i in range(n)]
    forced_b = [combo_sampler(n).forced_combination(i, 5) for i in reversed(range(n))][::-1]
    assert forced_a == forced_b
    assert forced_a != [combo_sampler(n).forced_combination(i, 6) for i in range(n)]


def test_indices_past_num_samples_sample_normally() -> None:
    sampler = combo_sampler(10, 0.5)
    assert sampler.forced_combination(10, 0) is None
    seen = Counter((s["tone"].value_id, s["len"].value_id) for s in (sampler.sample(i, 0) for i in range(10, 4_010)))
    assert abs(seen[("a", "s")] / 4_000 - 0.25) < 0.03


def test_combination_partial_names_other_attributes_sampled() -> None:
    attrs = [attribute("tone", {"a": None, "b": None}), attribute("len", {"s": None, "l": None})]
    sampler = AttributeSampler(
        attrs, [AttributeCombination(combination={"tone": "b"}, sample_rate=1.0)], num_samples=400
    )
    draws = [sampler.sample(i, 1) for i in range(400)]
    assert {d["tone"].value_id for d in draws} == {"b"}
    assert {d["len"].value_id for d in draws} == {"s", "l"}


@pytest.mark.parametrize(
    ("combination", "message"),
    [({"mood": "a"}, "not a sampled attribute"), ({"tone": "zzz"}, "not one of its value ids")],
)
def test_combination_references_are_checked(combination: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        AttributeSampler(
            [attribute("tone", {"a": None})],
            [AttributeCombination(combination=combination, sample_rate=0.1)],
            num_samples=10,
        )


def test_combination_rates_above_one_and_total_cover_are_errors() -> None:
    attrs = [attribute("tone", {"a": None, "b": None})]
    combos = [AttributeCombination(combination={"tone": "a"}, sample_rate=0.6)] * 2
    with pytest.raises(ConfigError, match=r"add up to 1\.2"):
        AttributeSampler(attrs, combos, num_samples=10)
    covering = [
        AttributeCombination(combination={"tone": "a"}, sample_rate=0.2),
        AttributeCombination(combination={"tone": "b"}, sample_rate=0.2),
    ]
    with pytest.raises(ConfigError, match="cover every possible draw"):
        AttributeSampler(attrs, covering, num_samples=10)

"""Sampled attributes: weighted choice of one value per attribute, seeded per episode.

Rates: values with a `sample_rate` get it; values without one share what is left (1 - sum of set
rates) equally. Set rates above 1 in total are a config error. When every value has a rate and they
sum to less than 1, the rates are used as relative weights (scaled up to sum to 1).

Combinations (`combination_sampling`): with N = num_samples, exactly round(rate * N) of the sample
indices 0..N-1 get each combination. Which indices is decided by a permutation of 0..N-1 seeded with
the run seed, so the assignment is reproducible and independent of the order episodes run in. The
attributes a combination does not name are sampled normally. Every other index below N is sampled
normally but redrawn while it matches a forced combination, so forced combinations appear at exactly
their rate (this shifts the marginal rates of the attributes involved; that is the point). Indices at
or past N (a run extended later) are sampled normally.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from envsim.config.models import AttributeCombination, SampledAttribute
from envsim.errors import ConfigError
from envsim.templating import TemplateNode

RATE_TOLERANCE = 1e-6
_MAX_REDRAWS = 10_000


@dataclass(frozen=True)
class SampledValue(TemplateNode):
    """The value chosen for a sampled attribute, with what templates may show of it and its attribute."""

    attribute_id: str
    attribute_name: str
    attribute_description: str
    value_id: str
    value_name: str
    value_description: str

    def template_text(self) -> str:
        return self.value_name

    def template_fields(self) -> Mapping[str, Any]:
        return {
            "id": self.value_id,
            "name": self.value_name,
            "description": self.value_description,
            "parent": _ParentAttribute(self.attribute_id, self.attribute_name, self.attribute_description),
        }


@dataclass(frozen=True)
class _ParentAttribute(TemplateNode):
    id: str
    name: str
    description: str

    def template_text(self) -> str:
        return self.name

    def template_fields(self) -> Mapping[str, Any]:
        return {"id": self.id, "name": self.name, "description": self.description}


#: Fields a template may read from a sampled attribute, for static checks.
SAMPLED_FIELDS: dict[str, tuple[str, ...]] = {
    "id": (),
    "name": (),
    "description": (),
    "parent": ("id", "name", "description"),
}


def make_value(attribute: SampledAttribute, value_id: str) -> SampledValue:
    """The SampledValue for `value_id` of `attribute` (KeyError if there is no such value)."""
    for value in attribute.possible_values:
        if value.id == value_id:
            return SampledValue(
                attribute_id=attribute.id,
                attribute_name=attribute.name or attribute.id,
                attribute_description=attribute.description or "",
                value_id=value.id,
                value_name=value.name or value.id,
                value_description=value.description or "",
            )
    raise KeyError(value_id)


@dataclass(frozen=True)
class _Distribution:
    attribute: SampledAttribute
    value_ids: tuple[str, ...]
    weights: tuple[float, ...]


def _distribution(attribute: SampledAttribute, location: str, file: str | None) -> _Distribution:
    values = attribute.possible_values
    if not values:
        raise ConfigError(f"sampled attribute {attribute.id!r} has no possible_values", file=file, location=location)
    ids = [v.id for v in values]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ConfigError(
            f"sampled attribute {attribute.id!r} lists value id(s) {duplicates} more than once",
            file=file,
            location=f"{location}.possible_values",
            hint="give each value a unique id",
        )
    set_total = sum(v.sample_rate for v in values if v.sample_rate is not None)
    unset = [v for v in values if v.sample_rate is None]
    if set_total > 1 + RATE_TOLERANCE:
        raise ConfigError(
            f"the sample_rate values of attribute {attribute.id!r} add up to {set_total:g}, more than 1",
            file=file,
            location=f"{location}.possible_values",
            hint="lower the rates so they sum to at most 1 (values without a rate share what is left)",
        )
    share = max(0.0, 1.0 - set_total) / len(unset) if unset else 0.0
    weights = tuple(v.sample_rate if v.sample_rate is not None else share for v in values)
    if sum(weights) <= 0:
        raise ConfigError(
            f"every value of attribute {attribute.id!r} has sample_rate 0, so none can be sampled",
            file=file,
            location=f"{location}.possible_values",
            hint="give at least one value a positive sample_rate",
        )
    return _Distribution(attribute, tuple(ids), weights)


class AttributeSampler:
    """Draws one value per sampled attribute for a sample index. Pure function of (seed, index)."""

    def __init__(
        self,
        attributes: Sequence[SampledAttribute],
        combinations: Sequence[AttributeCombination] = (),
        *,
        num_samples: int,
        file: str | None = None,
    ) -> None:
        self._dists = [
            _distribution(a, f"strategy_params.sampled_attributes[{i}]", file) for i, a in enumerate(attributes)
        ]
        self._by_id = {d.attribute.id: d for d in self._dists}
        self._combinations = list(combinations)
        self._num_samples = num_samples
        _check_combinations(self._combinations, self._by_id, file)
        self._forced_cache: dict[int, list[int | None]] = {}

    @property
    def attribute_ids(self) -> list[str]:
        return list(self._by_id)

    def forced_combination(self, index: int, seed: int) -> int | None:
        """Which combination (by position) index `index` is forced to, or None."""
        if index >= self._num_samples or not self._combinations:
            return None
        table = self._forced_cache.get(seed)
        if table is None:
            table = _assign_combinations(self._combinations, self._num_samples, seed)
            self._forced_cache[seed] = table
        return table[index]

    def sample(self, index: int, seed: int) -> dict[str, SampledValue]:
        rng = random.Random(f"{seed}:{index}")
        forced = self.forced_combination(index, seed)
        if forced is not None:
            fixed = self._combinations[forced].combination
            draw = {d.attribute.id: fixed.get(d.attribute.id) or self._draw(d, rng) for d in self._dists}
        else:
            draw = self._draw_all(rng, avoid=index < self._num_samples)
        return {aid: make_value(self._by_id[aid].attribute, vid) for aid, vid in draw.items()}

    def _draw(self, dist: _Distribution, rng: random.Random) -> str:
        return rng.choices(dist.value_ids, weights=dist.weights)[0]

    def _draw_all(self, rng: random.Random, *, avoid: bool) -> dict[str, str]:
        for _ in range(_MAX_REDRAWS):
            draw = {d.attribute.id: self._draw(d, rng) for d in self._dists}
            if not avoid or not any(_matches(draw, c.combination) for c in self._combinations):
                return draw
        # Unreachable for valid configs: _check_combinations rejects combinations that cover every draw.
        raise ConfigError("could not draw attributes outside the forced combinations")  # pragma: no cover


def _matches(draw: Mapping[str, str], combination: Mapping[str, str]) -> bool:
    return all(draw.get(k) == v for k, v in combination.items())


def _assign_combinations(combinations: Sequence[AttributeCombination], num_samples: int, seed: int) -> list[int | None]:
    counts = [round(c.sample_rate * num_samples) for c in combinations]
    # Rounding up several rates can overshoot N by a few; trim from the last combinations.
    excess = sum(counts) - num_samples
    for k in reversed(range(len(counts))):
        if excess <= 0:
            break
        cut = min(excess, counts[k])
        counts[k] -= cut
        excess -= cut
    order = list(range(num_samples))
    random.Random(f"{seed}:combinations").shuffle(order)
    table: list[int | None] = [None] * num_samples
    position = 0
    for k, count in enumerate(counts):
        for sample_index in order[position : position + count]:
            table[sample_index] = k
        position += count
    return table


def _check_combinations(
    combinations: Sequence[AttributeCombination], dists: Mapping[str, _Distribution], file: str | None
) -> None:
    total = 0.0
    for k, combo in enumerate(combinations):
        location = f"strategy_params.combination_sampling[{k}]"
        if not combo.combination:
            raise ConfigError("a combination must name at least one attribute", file=file, location=location)
        for attr_id, value_id in combo.combination.items():
            dist = dists.get(attr_id)
            if dist is None:
                raise ConfigError(
                    f"combination names attribute {attr_id!r}, which is not a sampled attribute",
                    file=file,
                    location=f"{location}.combination",
                    hint=f"sampled attributes: {', '.join(sorted(dists)) or '(none)'}",
                )
            if value_id not in dist.value_ids:
                raise ConfigError(
                    f"combination sets {attr_id!r} to {value_id!r}, which is not one of its value ids",
                    file=file,
                    location=f"{location}.combination.{attr_id}",
                    hint=f"values of {attr_id!r}: {', '.join(dist.value_ids)}",
                )
        total += combo.sample_rate
    if total > 1 + RATE_TOLERANCE:
        raise ConfigError(
            f"the combination_sampling rates add up to {total:g}, more than 1",
            file=file,
            location="strategy_params.combination_sampling",
            hint="lower the rates so they sum to at most 1",
        )
    covered = _covered_probability(combinations, dists)
    if combinations and covered >= 1 - RATE_TOLERANCE and total < 1 - RATE_TOLERANCE:
        raise ConfigError(
            "the forced combinations cover every possible draw, so the samples outside them cannot be drawn",
            file=file,
            location="strategy_params.combination_sampling",
            hint="make the combination rates sum to 1, or give the attributes other values to sample",
        )


_MAX_JOINT_OUTCOMES = 200_000


def _covered_probability(combinations: Sequence[AttributeCombination], dists: Mapping[str, _Distribution]) -> float:
    """Probability that a normal draw matches at least one combination (0 when too costly to compute)."""
    involved = sorted({a for c in combinations for a in c.combination})
    size = 1
    for attr_id in involved:
        size *= len(dists[attr_id].value_ids)
    if not involved or size > _MAX_JOINT_OUTCOMES:
        return 0.0
    covered = 0.0
    for outcome in itertools.product(*(_weighted(dists[a]) for a in involved)):
        draw = {a: value_id for a, (value_id, _) in zip(involved, outcome, strict=True)}
        if any(_matches(draw, c.combination) for c in combinations):
            covered += math.prod(p for _, p in outcome)
    return covered


def _weighted(dist: _Distribution) -> list[tuple[str, float]]:
    total = sum(dist.weights)
    return [(v, w / total) for v, w in zip(dist.value_ids, dist.weights, strict=True)]

"""Model prices (USD per 1M tokens) and the cost of a `Usage`.

The defaults are the providers' list prices as published in late 2025 for common OpenAI and Anthropic
models; users override or extend them with `inference_config.prices`
(`{model: {input, output, cache_read, cache_write}}`). A model that is in neither table has no price:
its cost is `None` ("unknown"), never a guess.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlparse

from envsim.errors import ConfigError
from envsim.models.base import Usage

_PER_TOKEN = 1e-6


@dataclass(frozen=True)
class ModelPrice:
    """USD per 1M tokens. `input` is for uncached input tokens (envsim's `Usage.input_tokens`)."""

    input: float
    output: float
    cache_read: float
    cache_write: float

    def cost(self, usage: Usage) -> float:
        return _PER_TOKEN * (
            usage.input_tokens * self.input
            + usage.output_tokens * self.output
            + usage.cache_read_tokens * self.cache_read
            + usage.cache_write_tokens * self.cache_write
        )


def _openai(input: float, output: float, cache_read: float) -> ModelPrice:
    # OpenAI caches automatically and does not bill (or report) cache writes separately.
    return ModelPrice(input=input, output=output, cache_read=cache_read, cache_write=input)


def _anthropic(input: float, output: float) -> ModelPrice:
    # Anthropic: cache reads cost 0.1x input, 5-minute cache writes 1.25x input.
    return ModelPrice(input=input, output=output, cache_read=input * 0.1, cache_write=input * 1.25)


DEFAULT_PRICES: dict[str, ModelPrice] = {
    "gpt-5": _openai(1.25, 10.0, 0.125),
    "gpt-5-mini": _openai(0.25, 2.0, 0.025),
    "gpt-5-nano": _openai(0.05, 0.40, 0.005),
    "gpt-4.1": _openai(2.0, 8.0, 0.50),
    "gpt-4.1-mini": _openai(0.40, 1.60, 0.10),
    "gpt-4.1-nano": _openai(0.10, 0.40, 0.025),
    "gpt-4o": _openai(2.50, 10.0, 1.25),
    "gpt-4o-mini": _openai(0.15, 0.60, 0.075),
    "o1": _openai(15.0, 60.0, 7.50),
    "o3": _openai(2.0, 8.0, 0.50),
    "o3-mini": _openai(1.10, 4.40, 0.55),
    "o4-mini": _openai(1.10, 4.40, 0.275),
    "gpt-3.5-turbo": _openai(0.50, 1.50, 0.50),
    "claude-opus-4-5": _anthropic(5.0, 25.0),
    "claude-opus-4-1": _anthropic(15.0, 75.0),
    "claude-opus-4": _anthropic(15.0, 75.0),
    "claude-sonnet-4-5": _anthropic(3.0, 15.0),
    "claude-sonnet-4": _anthropic(3.0, 15.0),
    "claude-3-7-sonnet": _anthropic(3.0, 15.0),
    "claude-3-5-sonnet": _anthropic(3.0, 15.0),
    "claude-haiku-4-5": _anthropic(1.0, 5.0),
    "claude-3-5-haiku": _anthropic(0.80, 4.0),
    "claude-3-haiku": _anthropic(0.25, 1.25),
}

# Dated or aliased snapshots of a listed model: "gpt-4o-mini-2024-07-18", "claude-sonnet-4-20250514",
# "claude-3-7-sonnet-latest". Nothing else is matched by prefix ("gpt-4o-audio" is not "gpt-4o").
_SNAPSHOT_SUFFIX = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{8}|latest)$")
# Default prices only describe the providers' own APIs, not a local server that reuses a model name.
_PROVIDER_HOSTS = {"api.openai.com", "api.anthropic.com"}
# Batch APIs bill 50% of the online price (OpenAI Batch API, Anthropic Message Batches), cache tokens included.
BATCH_DISCOUNT = 0.5
_PRICE_KEYS = ("input", "output", "cache_read", "cache_write")


def _bare_model(name: str) -> tuple[str, str | None]:
    """ "openai:gpt-4o@http://h/v1" -> ("gpt-4o", "http://h/v1")."""
    name, _, base_url = name.partition("@")
    if ":" in name:
        name = name.split(":", 1)[1]
    return name, base_url or None


class PriceTable:
    def __init__(
        self,
        overrides: Mapping[str, Mapping[str, float]] | None = None,
        *,
        defaults: Mapping[str, ModelPrice] = DEFAULT_PRICES,
    ) -> None:
        self.defaults = dict(defaults)
        self.overrides = {name: _parse_price(name, spec) for name, spec in (overrides or {}).items()}
        self._resolved: dict[str, ModelPrice | None] = {}  # lookups run on every call: memoize

    def lookup(self, model: str) -> ModelPrice | None:
        """Price of `model` ("provider:name[@base_url]" or a bare name), or None when unknown.

        User prices match the full string or the bare name; default prices match the bare name or a
        dated snapshot of it, and only for the providers' own endpoints."""
        try:
            return self._resolved[model]
        except KeyError:
            price = self._resolved[model] = self._find(model)
            return price

    def _find(self, model: str) -> ModelPrice | None:
        bare, base_url = _bare_model(model)
        for candidate in (model, bare, _SNAPSHOT_SUFFIX.sub("", bare)):
            if candidate in self.overrides:
                return self.overrides[candidate]
        if base_url is not None and urlparse(base_url).hostname not in _PROVIDER_HOSTS:
            return None
        return self.defaults.get(bare) or self.defaults.get(_SNAPSHOT_SUFFIX.sub("", bare))

    def cost(self, model: str, usage: Usage) -> float | None:
        price = self.lookup(model)
        if price is None:
            return None
        # A usage is priced per response, so it is either all batch or all online.
        return price.cost(usage) * (BATCH_DISCOUNT if usage.batch_requests else 1.0)


def _parse_price(model: str, spec: Mapping[str, float]) -> ModelPrice:
    where = f"inference_config.prices.{model}"
    hint = "give USD per 1M tokens, e.g. {input: 0.15, output: 0.6, cache_read: 0.075, cache_write: 0.15}"
    if not isinstance(spec, Mapping):
        raise ConfigError("a model price must be a mapping", location=where, hint=hint)
    unknown = sorted(set(spec) - set(_PRICE_KEYS))
    if unknown:
        raise ConfigError(f"unknown price key(s) {unknown}; allowed: {list(_PRICE_KEYS)}", location=where, hint=hint)
    missing = [k for k in ("input", "output") if k not in spec]
    if missing:
        raise ConfigError(f"price is missing {missing}", location=where, hint=hint)
    values = {k: spec[k] for k in spec}
    for key, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ConfigError(f"price `{key}` must be a number >= 0, got {value!r}", location=where, hint=hint)
    # Unbilled cache traffic defaults to the input price: over- rather than under-estimating.
    return ModelPrice(
        input=float(values["input"]),
        output=float(values["output"]),
        cache_read=float(values.get("cache_read", values["input"])),
        cache_write=float(values.get("cache_write", values["input"])),
    )

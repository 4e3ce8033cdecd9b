"""Model-family facts, kept apart from wire formats.

A provider asks `profile_for(provider, model)` what a model accepts (which max-tokens parameter, whether it
takes a JSON schema or sampling parameters) instead of hard-coding model names in its conversion code.
Unknown models get the provider's permissive default: a compatible server is trusted to accept the
standard Chat Completions parameters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Literal

MaxTokensParam = Literal["max_tokens", "max_completion_tokens"]


@dataclass(frozen=True)
class ModelProfile:
    family: str
    default_max_tokens: int | None = None  # None: let the server decide (OpenAI); Anthropic requires a value
    supports_json_schema: bool = True
    supports_parallel_tool_calls: bool = True
    supports_sampling_params: bool = True  # temperature / top_p (reasoning models reject them)
    max_tokens_param: MaxTokensParam = "max_tokens"


_OPENAI_DEFAULT = ModelProfile(family="openai-compatible")
_ANTHROPIC_DEFAULT = ModelProfile(family="claude", default_max_tokens=4096, supports_sampling_params=False)

# First match wins; patterns are matched against the lower-cased model name.
_OPENAI_FAMILIES: list[tuple[str, ModelProfile]] = [
    (r"^gpt-5", ModelProfile("gpt-5", supports_sampling_params=False, max_tokens_param="max_completion_tokens")),
    (
        r"^o\d",
        ModelProfile(
            "o-series",
            supports_sampling_params=False,
            supports_parallel_tool_calls=False,
            max_tokens_param="max_completion_tokens",
        ),
    ),
    (r"^gpt-4\.1", ModelProfile("gpt-4.1", max_tokens_param="max_completion_tokens")),
    (r"^gpt-4o", ModelProfile("gpt-4o", max_tokens_param="max_completion_tokens")),
    (r"^gpt-4", ModelProfile("gpt-4", supports_json_schema=False, max_tokens_param="max_completion_tokens")),
    (r"^gpt-3\.5", ModelProfile("gpt-3.5", supports_json_schema=False, max_tokens_param="max_completion_tokens")),
]

# Claude models before the 4.5 generation have no native structured output: a forced tool stands in.
# Sampling parameters (temperature/top_p) are deprecated for models after Opus 4.6; newer and unknown
# Claude models get them dropped rather than a 400.
_ANTHROPIC_FAMILIES: list[tuple[str, ModelProfile]] = [
    (r"^claude-3", ModelProfile("claude-3", default_max_tokens=4096, supports_json_schema=False)),
    (
        r"^claude-(opus|sonnet)-4(-0)?(-\d{8})?$",
        ModelProfile("claude-4", default_max_tokens=4096, supports_json_schema=False),
    ),
    (r"^claude-(opus|sonnet|haiku)-4-[156](-\d{8})?$", ModelProfile("claude-4.x", default_max_tokens=4096)),
    (r"^claude-", _ANTHROPIC_DEFAULT),
]


def profile_for(provider: str, model: str, *, official_endpoint: bool = True) -> ModelProfile:
    """Facts for `model` on `provider`. `official_endpoint=False` means an OpenAI-compatible server
    (vLLM, SGLang, Ollama, llama.cpp): those take `max_tokens`, whatever the model is called."""
    name = model.lower()
    if provider == "anthropic":
        return _match(_ANTHROPIC_FAMILIES, name, _ANTHROPIC_DEFAULT)
    profile = _match(_OPENAI_FAMILIES, name, _OPENAI_DEFAULT)
    if not official_endpoint:
        # Compatible servers host open models under arbitrary names; keep only the wire facts they share.
        return replace(_OPENAI_DEFAULT, family=profile.family)
    return profile


def _match(table: list[tuple[str, ModelProfile]], name: str, default: ModelProfile) -> ModelProfile:
    for pattern, profile in table:
        if re.search(pattern, name):
            return profile
    return default

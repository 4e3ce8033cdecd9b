"""Model strings and engines -> `ChatModel`s.

    parse_model_string("openai:gpt-4o-mini")                  -> ModelRef("openai", "gpt-4o-mini")
    parse_model_string("openai:qwen2.5@http://127.0.0.1:8000/v1")  (any OpenAI-compatible server)
    parse_model_string("anthropic:claude-sonnet-4-5")
    parse_model_string("scripted:tests/script.yaml") / ("function:my_pkg.replies:reply") / ("mock:anything")
    model_ref_from_spec(ModelSpec(model_name="llama3", engine="VLLM", base_url=...))
    create_model(ref, base_dir=config_dir) -> ChatModel

Providers plug in with `@register_provider("name")`; the built-ins register the same way. Provider modules
(and their SDKs) are imported only when a model of theirs is created.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, overload
from urllib.parse import urlsplit, urlunsplit

from envsim.errors import ConfigError
from envsim.models.base import ChatModel
from envsim.models.endpoint_capabilities import EndpointSettings

if TYPE_CHECKING:
    from envsim.config.models import ModelSpec


@dataclass(frozen=True)
class ModelRef:
    """Which model, on which provider, at which endpoint. Never holds a secret."""

    provider: str
    model: str
    base_url: str | None = None

    @property
    def name(self) -> str:
        """`provider:model[@base_url]`, the form `parse_model_string` reads back."""
        suffix = f"@{_without_userinfo(self.base_url)}" if self.base_url else ""
        return f"{self.provider}:{self.model}{suffix}"

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class ProviderOptions:
    """What a provider factory gets besides the ref. `api_key` is only set when the user insisted."""

    base_dir: Path | None = None
    api_key_env: str | None = None
    api_key: str | None = None
    timeout: float | None = None
    transport: str | None = None  # OpenAI-compatible providers: "direct" | "sdk" (see openai_transport)
    endpoint: EndpointSettings | None = None  # OpenAI-compatible providers: server profile and features


ProviderFactory = Callable[[ModelRef, ProviderOptions], ChatModel]

_PROVIDERS: dict[str, ProviderFactory] = {}


@overload
def register_provider(name: str) -> Callable[[ProviderFactory], ProviderFactory]: ...
@overload
def register_provider(name: str, factory: ProviderFactory) -> ProviderFactory: ...
def register_provider(
    name: str, factory: ProviderFactory | None = None
) -> ProviderFactory | Callable[[ProviderFactory], ProviderFactory]:
    """Make `name:<model>` strings build models with `factory(ref, options)`. Usable as a decorator."""

    def add(f: ProviderFactory) -> ProviderFactory:
        _PROVIDERS[name.lower()] = f
        return f

    return add(factory) if factory is not None else add


def known_providers() -> list[str]:
    return sorted(_PROVIDERS)


# --------------------------------------------------------------------------- parsing

# Engines of the seed format -> (provider, the usual local port when the engine is a local server).
_OPENAI_COMPATIBLE_ENGINES: dict[str, int | None] = {
    "VLLM": 8000,
    "SGLANG": 30000,
    "LLAMACPP": 8080,
    "OLLAMA": 11434,
    "LMSTUDIO": 1234,
    "REMOTE": None,
    "REMOTE_VLLM": None,
}
# oumi's hosted OpenAI-compatible engines: (base URL, environment variable of the key), oumi's defaults.
HOSTED_ENGINES: dict[str, tuple[str, str]] = {
    "DEEPSEEK": ("https://api.deepseek.com/v1", "DEEPSEEK_API_KEY"),
    "FIREWORKS": ("https://api.fireworks.ai/inference/v1", "FIREWORKS_API_KEY"),
    "PARASAIL": ("https://api.parasail.io/v1", "PARASAIL_API_KEY"),
    "TOGETHER": ("https://api.together.xyz/v1", "TOGETHER_API_KEY"),
    "OPENROUTER": ("https://openrouter.ai/api/v1", "OPENROUTER_API_KEY"),
    "SAMBANOVA": ("https://api.sambanova.ai/v1", "SAMBANOVA_API_KEY"),
    "CEREBRAS": ("https://api.cerebras.ai/v1", "CEREBRAS_API_KEY"),
    "GEMINI": ("https://generativelanguage.googleapis.com/v1beta/openai", "GEMINI_API_KEY"),
    "HUGGING_FACE_ROUTER": ("https://router.huggingface.co/v1", "HF_TOKEN"),
}
# oumi engines envsim cannot stand in for, and what to use instead.
_UNSUPPORTED_ENGINES: dict[str, str] = {
    "NATIVE": "NATIVE runs the model inside oumi's process; serve it (e.g. `vllm serve MODEL`) and set "
    "engine: VLLM with base_url: http://127.0.0.1:8000/v1",
    "GOOGLE_VERTEX": "GOOGLE_VERTEX needs Google Cloud credentials envsim does not handle; use engine: GEMINI "
    "(GEMINI_API_KEY) or an OpenAI-compatible proxy with engine: REMOTE and its base_url",
    "BEDROCK": "BEDROCK needs AWS request signing envsim does not do; use an OpenAI-compatible proxy "
    "(e.g. a LiteLLM gateway) with engine: REMOTE and its base_url",
}
_ENGINES: dict[str, str] = {
    "OPENAI": "openai",
    "ANTHROPIC": "anthropic",
    "CLAUDE": "anthropic",
    "SCRIPTED": "scripted",
    "FUNCTION": "function",
    "MOCK": "mock",
    **dict.fromkeys(_OPENAI_COMPATIBLE_ENGINES, "openai"),
    **dict.fromkeys(HOSTED_ENGINES, "openai"),
}


def parse_model_string(text: str, *, location: str | None = None) -> ModelRef:
    """`provider:model[@base_url]`; see the module doc for the forms. Raises ConfigError on anything else."""
    value = text.strip()
    provider, sep, rest = value.partition(":")
    if not sep or not provider or not rest:
        raise ConfigError(
            f"model {value!r} does not name a provider",
            location=location,
            hint=f"write provider:model, e.g. openai:gpt-4o-mini; providers: {', '.join(known_providers())}",
        )
    provider = provider.lower()
    if provider not in _PROVIDERS:
        raise ConfigError(
            f"unknown model provider {provider!r} in {value!r}",
            location=location,
            hint=f"use one of: {', '.join(known_providers())}",
        )
    model, base_url = rest, None
    at = _base_url_start(rest)
    if at >= 0:
        model, base_url = rest[:at], rest[at + 1 :]
    if not model:
        raise ConfigError(f"model string {value!r} has an empty model name", location=location)
    return ModelRef(provider=provider, model=model, base_url=base_url)


def model_ref_from_spec(
    spec: ModelSpec, engine: str | None = None, *, location: str = "inference_config.model"
) -> ModelRef:
    """The ref for a config's model section: `spec.engine` (else `engine`, the seed's
    `inference_config.engine`) picks the provider; without an engine `model_name` is a model string."""
    chosen = (spec.engine or engine or "").strip().upper()
    name = spec.model_name.strip()
    if not chosen:
        ref = _ref_without_engine(name, location)
        if spec.base_url and ref.base_url is None:
            ref = ModelRef(ref.provider, ref.model, spec.base_url)
        return ref
    if chosen in _UNSUPPORTED_ENGINES:
        raise ConfigError(
            f"engine {chosen} is not supported",
            location=f"{location}.engine",
            hint=_UNSUPPORTED_ENGINES[chosen],
        )
    if chosen not in _ENGINES:
        raise ConfigError(
            f"unknown engine {chosen!r}",
            location=f"{location}.engine",
            hint=f"use one of: {', '.join(sorted(_ENGINES))} (or a model string like openai:gpt-4o-mini)",
        )
    provider = _ENGINES[chosen]
    prefix = f"{provider}:"
    if name.lower().startswith(prefix):  # "openai:gpt-4o" with engine OPENAI: same thing said twice
        name = name[len(prefix) :]
    base_url = spec.base_url or (HOSTED_ENGINES[chosen][0] if chosen in HOSTED_ENGINES else None)
    if chosen in _OPENAI_COMPATIBLE_ENGINES and not base_url:
        port = _OPENAI_COMPATIBLE_ENGINES[chosen]
        example = f"http://127.0.0.1:{port}/v1" if port else "http://<host>:<port>/v1"
        raise ConfigError(
            f"engine {chosen} needs the server's address, but base_url is not set",
            location=f"{location}.base_url",
            hint=f"set base_url: {example} (the OpenAI-compatible endpoint of your {chosen.lower()} server)",
        )
    if not name:
        raise ConfigError("model_name is empty", location=f"{location}.model_name")
    return ModelRef(provider=provider, model=name, base_url=base_url)


def _ref_without_engine(name: str, location: str) -> ModelRef:
    provider = name.partition(":")[0].lower()
    if provider in _PROVIDERS:
        return parse_model_string(name, location=f"{location}.model_name")
    lowered = name.lower()
    if lowered.startswith("claude"):
        return ModelRef("anthropic", name)
    if lowered.startswith(("gpt-", "chatgpt", "o1", "o3", "o4")):
        return ModelRef("openai", name)
    raise ConfigError(
        f"cannot tell which provider serves model {name!r}",
        location=f"{location}.model_name",
        hint="write provider:model (e.g. openai:gpt-4o-mini) or set engine: " + " | ".join(sorted(_ENGINES)),
    )


def _base_url_start(rest: str) -> int:
    """Index of the `@` that starts a base URL (model names may contain `@` themselves)."""
    for marker in ("@http://", "@https://"):
        at = rest.rfind(marker)
        if at >= 0:
            return at
    return -1


def _without_userinfo(url: str) -> str:
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


# --------------------------------------------------------------------------- creation


def create_model(
    ref: ModelRef | str,
    *,
    base_dir: str | Path | None = None,
    api_key_env: str | None = None,
    api_key: str | None = None,
    timeout: float | None = None,
    transport: str | None = None,
    endpoint: EndpointSettings | None = None,
) -> ChatModel:
    """Build the ChatModel for `ref` (a ModelRef or a model string). `base_dir` resolves relative paths of
    `scripted:` files and `function:` Python files (the config file's folder)."""
    if isinstance(ref, str):
        ref = parse_model_string(ref)
    factory = _PROVIDERS.get(ref.provider)
    if factory is None:
        raise ConfigError(
            f"unknown model provider {ref.provider!r}", hint=f"use one of: {', '.join(known_providers())}"
        )
    options = ProviderOptions(
        base_dir=Path(base_dir) if base_dir is not None else None,
        api_key_env=api_key_env,
        api_key=api_key,
        timeout=timeout,
        transport=transport,
        endpoint=endpoint,
    )
    return factory(ref, options)


def create_model_from_spec(
    spec: ModelSpec,
    engine: str | None = None,
    *,
    base_dir: str | Path | None = None,
    timeout: float | None = None,
    location: str = "inference_config.model",
) -> ChatModel:
    """`model_ref_from_spec` + `create_model`, honouring `api_key_env` and (only when explicitly allowed)
    an `api_key` written in the config."""
    if spec.api_key and not spec.allow_api_key_in_config:
        raise ConfigError(
            "an API key is written in the config, which would leak it into files and version control",
            location=f"{location}.api_key",
            hint="remove api_key and set api_key_env to the name of an environment variable holding the key "
            "(or set allow_api_key_in_config: true if you really mean it)",
        )
    ref = model_ref_from_spec(spec, engine, location=location)
    if spec.transport is not None and ref.provider != "openai":
        raise ConfigError(
            f"transport applies to OpenAI-compatible models, and {ref.provider}:{ref.model} is not one",
            location=f"{location}.transport",
            hint="remove transport from this model section",
        )
    hosted = HOSTED_ENGINES.get((spec.engine or engine or "").strip().upper())
    return create_model(
        ref,
        base_dir=base_dir,
        api_key_env=spec.api_key_env or (hosted[1] if hosted else None),
        api_key=spec.api_key or None,
        timeout=timeout,
        transport=spec.transport,
        endpoint=endpoint_settings(spec, location),
    )


def endpoint_settings(spec: ModelSpec, location: str) -> EndpointSettings:
    """A model section's `server`, `structured_output` and `features`, for the OpenAI-compatible provider."""
    features = spec.features
    return EndpointSettings(
        server=spec.server,
        structured_output=spec.structured_output,
        tool_choice_modes=frozenset(features.tool_choice_modes) if features and features.tool_choice_modes else None,
        explicit_tool_choice=features.explicit_tool_choice if features else None,
        seed=features.seed if features else None,
        parallel_tool_calls=features.parallel_tool_calls if features else None,
        stream_options=features.stream_options if features else None,
        usage_details=features.usage_details if features else None,
        tool_call_content=features.tool_call_content if features else None,
        location=location,
    )


# --------------------------------------------------------------------------- built-in providers


@register_provider("openai")
def _openai(ref: ModelRef, options: ProviderOptions) -> ChatModel:
    from envsim.models.openai_provider import DEFAULT_TIMEOUT, OpenAIChatModel

    return OpenAIChatModel(
        ref.model,
        base_url=ref.base_url,
        api_key_env=options.api_key_env or "OPENAI_API_KEY",
        api_key=options.api_key,
        timeout=options.timeout or DEFAULT_TIMEOUT,
        transport=options.transport or "direct",  # type: ignore[arg-type]  # validated by the model
        settings=options.endpoint,
    )


@register_provider("anthropic")
def _anthropic(ref: ModelRef, options: ProviderOptions) -> ChatModel:
    from envsim.models.anthropic_provider import DEFAULT_TIMEOUT, AnthropicChatModel

    return AnthropicChatModel(
        ref.model,
        base_url=ref.base_url,
        api_key_env=options.api_key_env or "ANTHROPIC_API_KEY",
        api_key=options.api_key,
        timeout=options.timeout or DEFAULT_TIMEOUT,
    )


@register_provider("mock")
def _mock(ref: ModelRef, options: ProviderOptions) -> ChatModel:
    from envsim.models.mock import MockModel

    return MockModel(ref.model)


@register_provider("scripted")
def _scripted(ref: ModelRef, options: ProviderOptions) -> ChatModel:
    from envsim.testing.scripted import ScriptedModel

    path = _resolve_path(ref.model, options.base_dir)
    if not path.is_file():
        raise ConfigError(
            f"model script {str(path)!r} does not exist",
            hint="scripted:<path> takes a YAML/JSON list of replies, relative to the config file",
        )
    return ScriptedModel.from_file(path)


@register_provider("function")
def _function(ref: ModelRef, options: ProviderOptions) -> ChatModel:
    from envsim.testing.scripted import FunctionModel

    return FunctionModel(load_callable(ref.model, options.base_dir), name=ref.name)


def load_callable(target: str, base_dir: Path | None = None) -> Callable[..., object]:
    """`package.module:function` or `path/to/file.py:function` -> the function."""
    module_name, sep, attr = target.rpartition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(
            f"function target {target!r} is not of the form module:function",
            hint="e.g. function:my_package.replies:reply or function:replies.py:reply",
        )
    try:
        if module_name.endswith(".py"):
            path = _resolve_path(module_name, base_dir)
            spec = importlib.util.spec_from_file_location(f"envsim_user_{path.stem}", path)
            if spec is None or spec.loader is None or not path.is_file():
                raise FileNotFoundError(str(path))
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        else:
            if base_dir is not None and str(base_dir) not in sys.path:
                sys.path.append(str(base_dir))  # let configs ship their reply modules next to them
            module = importlib.import_module(module_name)
    except (ImportError, FileNotFoundError) as exc:
        raise ConfigError(
            f"cannot import {module_name!r} for function:{target} ({exc})",
            hint="check the module path (it must be importable, or a .py file relative to the config)",
        ) from None
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise ConfigError(
            f"{module_name!r} has no function {attr!r}",
            hint=f"define def {attr}(request) -> str | Message | ModelResponse in {module_name}",
        )
    return fn


def _resolve_path(value: str, base_dir: Path | None) -> Path:
    path = Path(os.path.expanduser(value))
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    return path

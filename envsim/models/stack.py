"""Composition of the model policies, and the run's per-role models.

A stack, outermost first:

    usage -> cache -> truncation -> breaker -> retry -> limiter -> provider

- usage is outermost so it sees cache hits as well as real calls (and prices both);
- cache hits return before the breaker and limiter: a replay costs no rate budget and works offline;
- a structured reply cut off at the token limit is asked again with a larger one (truncation), and the
  cache keeps the complete reply;
- the breaker counts failures after retries gave up, and fails fast once open;
- retry sits outside the limiter so a backoff wait holds no concurrency slot, and every attempt
  re-acquires the limiter (and so waits out the endpoint's Retry-After cooldown);
- the limiter is innermost: it meters exactly the requests that go on the wire.

`build_role_models` builds one stack per distinct model and hands it to each role (planner, user,
assistant, environment, attribute); all stacks share one LimiterRegistry, BreakerRegistry,
UsageTracker and ResponseCache, so budgets hold per endpoint across roles and episodes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from envsim.config.models import BatchConfig, GenerationConfig, InferenceConfig, ModelSpec
from envsim.models.base import ChatModel, GenerationParams, ModelRequest, ModelResponse, ModelWrapper
from envsim.models.breaker import BreakerRegistry, CircuitBreakerModel
from envsim.models.cache import CachingModel, ResponseCache
from envsim.models.limits import EndpointKey, LimiterRegistry, LimitSettings, RateLimitedModel
from envsim.models.pricing import PriceTable
from envsim.models.registry import (
    ModelRef,
    create_model,
    create_model_from_spec,
    known_providers,
    parse_model_string,
)
from envsim.models.retry import RetryingModel, RetryPolicy
from envsim.models.truncation import TruncationRetryModel
from envsim.models.usage import UsageTracker, UsageTrackingModel


def generation_params(generation: GenerationConfig) -> GenerationParams:
    """The seed's `inference_config.generation` as request params (`max_new_tokens` -> `max_tokens`)."""
    return GenerationParams(
        temperature=generation.temperature,
        top_p=generation.top_p,
        max_tokens=generation.max_new_tokens,
        seed=generation.seed,
        stop=generation.stop_strings,
        frequency_penalty=generation.frequency_penalty,
        presence_penalty=generation.presence_penalty,
        logit_bias=generation.logit_bias,
        min_p=generation.min_p,
        stop_token_ids=generation.stop_token_ids,
        tool_choice=generation.tool_choice,
        parallel_tool_calls=generation.parallel_tool_calls,
    )


ROLES = ("planner", "user", "assistant", "environment", "attribute")
DEFAULT_CACHE_DIR = ".envsim_cache"
DEFAULT_BATCH_DIR = "batch_work_dir"


@dataclass
class ModelPolicies:
    """Run-wide state shared by every model stack."""

    limiters: LimiterRegistry = field(default_factory=LimiterRegistry)
    breakers: BreakerRegistry = field(default_factory=BreakerRegistry)
    tracker: UsageTracker = field(default_factory=UsageTracker)
    cache: ResponseCache | None = None
    prices: PriceTable = field(default_factory=PriceTable)
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    @classmethod
    def from_config(cls, config: InferenceConfig, *, cache: ResponseCache | None = None) -> ModelPolicies:
        remote = config.remote_params
        return cls(
            limiters=LimiterRegistry(LimitSettings.from_remote_params(remote)),
            cache=cache,
            prices=PriceTable(config.prices),
            retry=RetryPolicy.from_remote_params(remote),
        )


def wrap_model(provider: ChatModel, policies: ModelPolicies, endpoint: EndpointKey | None = None) -> ChatModel:
    """Put the policy stack around an already-built provider model."""
    key = endpoint or EndpointKey.parse(provider.name)
    model: ChatModel = RateLimitedModel(provider, policies.limiters.get(key))
    model = RetryingModel(model, policies.retry)
    model = CircuitBreakerModel(model, policies.breakers.get(key))
    model = TruncationRetryModel(model)
    if policies.cache is not None and policies.cache.enabled:
        model = CachingModel(model, policies.cache)
    return UsageTrackingModel(model, policies.tracker, policies.prices)


def wrap_batch_model(provider: ChatModel, policies: ModelPolicies, batch: BatchConfig, work_dir: Path) -> ChatModel:
    """Batch mode: usage -> cache -> batch waves. No limiter, retry or breaker: a batch API meters and
    retries on its side, and failed rows are resubmitted by the batch task."""
    from envsim.models.batch.waves import batch_wave_model

    model: ChatModel = batch_wave_model(
        provider,
        work_dir,
        collect_s=batch.collect_s,
        poll_interval_s=batch.poll_interval_s,
        max_attempts=batch.max_attempts,
    )
    if policies.cache is not None and policies.cache.enabled:
        model = CachingModel(model, policies.cache)
    return UsageTrackingModel(model, policies.tracker, policies.prices)


def build_model_stack(
    model: ChatModel | ModelSpec | ModelRef | str,
    *,
    inference_config: InferenceConfig | None = None,
    policies: ModelPolicies | None = None,
    base_dir: str | Path | None = None,
    location: str = "inference_config.model",
    batch: BatchConfig | None = None,
    batch_dir: Path | None = None,
) -> ChatModel:
    """A ready-to-call model with every policy: from a provider instance, a config `ModelSpec` (its
    engine defaults to `inference_config.engine`), a `ModelRef` or a model string."""
    if policies is None:
        policies = ModelPolicies.from_config(inference_config) if inference_config else ModelPolicies()
    timeout = inference_config.remote_params.connection_timeout if inference_config else None
    if isinstance(model, ChatModel):
        return wrap_model(model, policies)
    if isinstance(model, ModelSpec):
        engine = inference_config.engine if inference_config else None
        if model.engine is None and _names_provider(model.model_name):
            engine = None  # "mock:x" in a role override is a model string, not a model of the default engine
        provider = create_model_from_spec(model, engine, base_dir=base_dir, timeout=timeout, location=location)
    else:
        ref = parse_model_string(model, location=location) if isinstance(model, str) else model
        provider = create_model(ref, base_dir=base_dir, timeout=timeout)
    if batch is not None:
        return wrap_batch_model(provider, policies, batch, batch_dir or Path(DEFAULT_BATCH_DIR))
    return wrap_model(provider, policies)


def _names_provider(model_name: str) -> bool:
    provider, sep, _ = model_name.partition(":")
    return bool(sep) and provider.lower() in known_providers()


class _RoleDefault(ModelWrapper):
    """Tags requests that do not say who is calling with this role, so usage lands in the right row."""

    def __init__(self, inner: ChatModel, role: str) -> None:
        super().__init__(inner)
        self.role = role

    async def generate(self, request: ModelRequest) -> ModelResponse:
        if request.context.role is None:
            context = request.context.model_copy(update={"role": self.role})
            request = request.model_copy(update={"context": context})
        return await self.inner.generate(request)

    async def aclose(self) -> None:
        """The shared stack is closed once by `RoleModels.aclose`."""


class RoleModels(dict[str, ChatModel]):
    """Role name -> model, plus the run-wide policies behind them.

    `episode_finished(id)` frees the episode's cache ordinals (call it when an episode ends or is
    restarted); `aclose()` closes every provider once and the cache."""

    def __init__(self, models: dict[str, ChatModel], stacks: list[ChatModel], policies: ModelPolicies) -> None:
        super().__init__(models)
        self.stacks = stacks
        self.policies = policies

    @property
    def tracker(self) -> UsageTracker:
        return self.policies.tracker

    @property
    def limiters(self) -> LimiterRegistry:
        return self.policies.limiters

    @property
    def cache(self) -> ResponseCache | None:
        return self.policies.cache

    def episode_finished(self, episode_id: str) -> None:
        if self.policies.cache is not None:
            self.policies.cache.forget_episode(episode_id)
        self.policies.tracker.pop_episode(episode_id)

    def preload(self) -> None:
        for stack in self.stacks:
            stack.preload()

    async def aclose(self) -> None:
        for stack in self.stacks:
            await stack.aclose()
        if self.policies.cache is not None:
            self.policies.cache.close()


def build_role_models(
    config: InferenceConfig,
    *,
    base_dir: str | Path | None = None,
    cache_dir: str | Path | None = None,
    no_cache: bool = False,
    model_override: str | None = None,
    batch_dir: Path | None = None,
) -> RoleModels:
    """A model per role: `config.roles.<role>` when set, else the default model, which is
    `model_override` (a model string, e.g. from `--model`) when given, else `config.model`.

    The response cache lives in `cache_dir`, else `config.cache.path` (relative to `base_dir`), else
    `<base_dir>/.envsim_cache`; `no_cache` or `config.cache.enabled: false` turn it off. With
    `config.batch` enabled, the roles it lists call their models through batch waves (task state in
    `batch_dir`)."""
    cache: ResponseCache | None = None
    if config.cache.enabled and not no_cache:
        cache = ResponseCache(_cache_directory(config, base_dir, cache_dir))
    policies = ModelPolicies.from_config(config, cache=cache)
    stacks: dict[tuple[str, str, str | None, bool], ChatModel] = {}
    models: dict[str, ChatModel] = {}
    batch = config.batch if config.batch is not None and config.batch.enabled else None
    try:
        default = _default_model(config, model_override)
        for role in ROLES:
            override: ModelSpec | None = getattr(config.roles, role)
            spec: ModelSpec | ModelRef = override or default
            location = f"inference_config.roles.{role}" if override else _default_location(model_override)
            in_batch = batch is not None and role in batch.roles
            identity = (*_identity(spec, config), in_batch)
            if identity not in stacks:
                stacks[identity] = build_model_stack(
                    spec,
                    inference_config=config,
                    policies=policies,
                    base_dir=base_dir,
                    location=location,
                    batch=batch if in_batch else None,
                    batch_dir=batch_dir,
                )
            models[role] = _RoleDefault(stacks[identity], role)
    except BaseException:
        if cache is not None:
            cache.close()
        raise
    return RoleModels(models, list(stacks.values()), policies)


def _default_model(config: InferenceConfig, model_override: str | None) -> ModelSpec | ModelRef:
    if model_override:
        return parse_model_string(model_override, location="--model")
    return config.model


def _default_location(model_override: str | None) -> str:
    return "--model" if model_override else "inference_config.model"


def _identity(spec: ModelSpec | ModelRef, config: InferenceConfig) -> tuple[str, str, str | None]:
    """Roles whose models are the same (same model, endpoint and key variable) share one stack."""
    if isinstance(spec, ModelRef):
        return ("ref", spec.name, None)
    engine = spec.engine or ("" if _names_provider(spec.model_name) else config.engine or "")
    return (engine, spec.model_name + "@" + (spec.base_url or ""), spec.api_key_env)


def _cache_directory(config: InferenceConfig, base_dir: str | Path | None, cache_dir: str | Path | None) -> Path:
    if cache_dir is not None:
        return Path(cache_dir)
    root = Path(base_dir) if base_dir is not None else Path.cwd()
    if config.cache.path:
        path = Path(config.cache.path).expanduser()
        return path if path.is_absolute() else root / path
    return root / DEFAULT_CACHE_DIR

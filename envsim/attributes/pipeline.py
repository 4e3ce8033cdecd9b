"""The attributes of one sample: sampled values, source rows, generated and transformed attributes.

`AttributePipeline.from_config(config, model=..., base_dir=...)` checks everything it can at load time
(rates, sources, references, cycles) and `await pipeline.sample(index, seed, episode_id)` computes one
sample's attributes. The result is reproducible from (seed, index) alone, whatever order or
concurrency samples are computed in (generated attributes are as reproducible as the model is).

In `SampleAttributes.values` (what goes to traces and output files) a sampled attribute is stored as
its chosen value's **id**; templates still see the whole value (`{tone}` = its name,
`{tone.description}`, `{tone.parent}`, ...).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from envsim.attributes.generation import generate_attribute
from envsim.attributes.graph import AttributeGraph, ProducerKind, build_graph
from envsim.attributes.sampling import AttributeSampler, SampledValue, make_value
from envsim.attributes.sources import SourcePool, load_sources
from envsim.attributes.transforms import apply_transform
from envsim.config.models import SampledAttribute, StrategyParams, SynthConfig
from envsim.errors import ConfigError, ConfigErrors, DataError, EnvsimError
from envsim.models.base import ChatModel, GenerationParams, Usage
from envsim.models.stack import generation_params
from envsim.templating import TemplateNode, render


@dataclass
class SampleAttributes:
    """One sample's attributes. `render` fills templates; `values` is the JSON form."""

    context: dict[str, Any]  # what templates see (sampled attributes as SampledValue)
    usage: Usage = field(default_factory=Usage)  # model usage of generated attributes
    truncated: list[str] = field(default_factory=list)  # generated attributes cut off at the token limit

    @property
    def values(self) -> dict[str, Any]:
        return {k: _jsonable(v) for k, v in self.context.items()}

    def render(self, template: str, *, where: str | None = None) -> str:
        """Fill `template`'s placeholders. `where` (e.g. a config location) names the template in errors."""
        return render(template, self.context, where=where)

    @property
    def topic_hint(self) -> str | None:
        """The sample's topic paths, for the planner and the user simulator ("a -> b -> c")."""
        from envsim.topics.source import TopicValue

        paths = [v.path_text for v in self.context.values() if isinstance(v, TopicValue)]
        return "; ".join(paths) or None

    def select(self, passthrough: Sequence[str] | None) -> dict[str, Any]:
        """The JSON values named by `passthrough_attributes` (all of them when it is None)."""
        values = self.values
        return values if passthrough is None else {k: values[k] for k in passthrough if k in values}

    @classmethod
    def from_values(
        cls, values: Mapping[str, Any], *, sampled_attributes: Sequence[SampledAttribute] = ()
    ) -> SampleAttributes:
        """Attributes given directly (scenario catalogs). A string naming a value id (or name) of a
        sampled attribute of the same id becomes that value, so `{tone.description}` renders."""
        by_id = {a.id: a for a in sampled_attributes}
        context: dict[str, Any] = {}
        for key, value in values.items():
            attribute = by_id.get(key)
            context[key] = _as_sampled(attribute, value) if attribute is not None else value
        return cls(context=context)


def _as_sampled(attribute: SampledAttribute, value: Any) -> Any:
    if isinstance(value, str):
        for candidate in attribute.possible_values:
            if value in (candidate.id, candidate.name):
                return make_value(attribute, candidate.id)
    return value


def _jsonable(value: Any) -> Any:
    if isinstance(value, SampledValue):
        return value.value_id
    if isinstance(value, TemplateNode):
        return value.json_value()
    return value


def _base_dir(config: SynthConfig, base_dir: str | Path | None) -> Path:
    if base_dir is not None:
        return Path(base_dir)
    return Path(config.source_path).parent if config.source_path else Path.cwd()


class AttributePipeline:
    def __init__(
        self,
        params: StrategyParams,
        *,
        sampler: AttributeSampler,
        pools: list[SourcePool],
        graph: AttributeGraph,
        model: ChatModel | None,
        generation_params: GenerationParams | None = None,
        max_validation_retries: int = 3,
    ) -> None:
        self.params = params
        self.sampler = sampler
        self.pools = pools
        self.graph = graph
        self.model = model
        self.generation_params = generation_params or GenerationParams()
        self.max_validation_retries = max_validation_retries
        self._generations = graph.generations()

    @classmethod
    def from_config(
        cls, config: SynthConfig, *, model: ChatModel | None = None, base_dir: str | Path | None = None
    ) -> AttributePipeline:
        """Build and check the pipeline. Raises ConfigError(s) / DataError naming what is wrong and where.

        `model` is the attribute-role model; it is required only when there are generated attributes.
        `base_dir` is where relative source paths start (default: the config file's folder).
        """
        file = config.source_path
        params = config.strategy_params
        sampler = AttributeSampler(
            params.sampled_attributes, params.combination_sampling, num_samples=config.num_samples, file=file
        )
        pools = load_sources(params, _base_dir(config, base_dir), file=file)
        graph, errors = build_graph(params, pools, file=file)
        if errors:
            raise errors[0] if len(errors) == 1 else ConfigErrors(errors)
        if params.generated_attributes and model is None:
            raise ConfigError(
                "generated attributes need a model, but none was given",
                file=file,
                location="strategy_params.generated_attributes",
                hint="set inference_config.model (or inference_config.roles.attribute)",
            )
        return cls(
            params,
            sampler=sampler,
            pools=pools,
            graph=graph,
            model=model,
            generation_params=generation_params(config.inference_config.generation),
            max_validation_retries=config.inference_config.remote_params.max_validation_retries,
        )

    @property
    def names(self) -> list[str]:
        """Every attribute name templates may use (multiturn outputs included)."""
        return self.graph.names

    def from_values(self, values: Mapping[str, Any]) -> SampleAttributes:
        """`SampleAttributes.from_values` with this config's sampled attributes."""
        return SampleAttributes.from_values(values, sampled_attributes=self.params.sampled_attributes)

    async def sample(self, index: int, seed: int, episode_id: str) -> SampleAttributes:
        context: dict[str, Any] = dict(self.sampler.sample(index, seed))
        for pool in self.pools:
            context.update(pool.pick(index, seed))
        usage = Usage()
        truncated: list[str] = []
        for generation in self._generations:
            # Members of one generation never reference each other, so they all see the same context.
            snapshot = dict(context)
            for producer in generation:
                if producer.kind is ProducerKind.TRANSFORMED:
                    context[producer.config.id] = apply_transform(producer.config, snapshot, producer.location)
            generated = [p for p in generation if p.kind is ProducerKind.GENERATED]
            for result in await self._generate_all(generated, snapshot, episode_id):
                context.update(result.values)
                usage = usage + result.usage
                truncated += result.truncated
        return SampleAttributes(context=context, usage=usage, truncated=truncated)

    async def _generate_all(self, producers: list[Any], snapshot: dict[str, Any], episode_id: str) -> list[Any]:
        if not producers:
            return []
        assert self.model is not None  # from_config guarantees a model when there are generated attributes
        model = self.model
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [
                    group.create_task(
                        generate_attribute(
                            p.config,
                            snapshot,
                            model,
                            location=p.location,
                            episode_id=episode_id,
                            params=self.generation_params,
                            max_validation_retries=self.max_validation_retries,
                        )
                    )
                    for p in producers
                ]
        except* Exception as group_error:
            # One failed attribute fails the sample (siblings are cancelled); surface its own error.
            raise group_error.exceptions[0] from None
        return [t.result() for t in tasks]


def validate_attribute_graph(
    config: SynthConfig, *, base_dir: str | Path | None = None, include_basic: bool = True
) -> list[ConfigError]:
    """Every load-time problem of the attributes, as ConfigErrors.

    Reads the sources (to know their fields) and checks sampling rates and combinations, source
    files and data, references, few-shot indexes and fields, cycles and passthrough names.
    `include_basic=False` leaves out what `envsim.config.validation` already reports (sampling
    rates and combination references, missing source files, inline num_shots, clashing config ids),
    so a user sees each problem once; that is how this check is registered with the config loader.
    """
    file = config.source_path
    params = config.strategy_params
    errors: list[ConfigError] = []
    if include_basic:
        try:
            AttributeSampler(
                params.sampled_attributes, params.combination_sampling, num_samples=config.num_samples, file=file
            )
        except ConfigError as exc:
            errors.append(exc)
    source_errors: list[EnvsimError] = []
    pools = load_sources(params, _base_dir(config, base_dir), file=file, errors=source_errors)
    for error in source_errors:
        if include_basic or not _reported_by_loader(error):
            errors.append(_as_config_error(error, file))
    _, graph_errors = build_graph(params, pools, file=file, report_declared_duplicates=include_basic)
    if source_errors:
        # Fields of unreadable sources are unknown; references to them would be noise.
        graph_errors = [e for e in graph_errors if "unknown attribute" not in e.message]
    errors.extend(graph_errors)
    return errors


def _reported_by_loader(error: EnvsimError) -> bool:
    if isinstance(error, ConfigError):
        return (error.location or "").endswith(".path")  # no such file / no glob match
    return isinstance(error, DataError) and error.message.startswith("strategy_params.input_examples[")


def _validate_for_loader(config: SynthConfig) -> list[ConfigError]:
    errors = validate_attribute_graph(config, include_basic=False)
    if config.scenario_catalog_path is not None:
        # Scenario attributes fill these placeholders; a scenario run checks them per scenario.
        errors = [e for e in errors if "unknown attribute" not in e.message]
    return errors


def register_validator() -> None:
    """Add the attribute checks to the config loader's validators (idempotent; done on import)."""
    from envsim.config.validation import EXTRA_VALIDATORS

    if _validate_for_loader not in EXTRA_VALIDATORS:
        EXTRA_VALIDATORS.append(_validate_for_loader)


def _as_config_error(error: EnvsimError, file: str | None) -> ConfigError:
    if isinstance(error, ConfigError):
        return error
    kind = "data" if isinstance(error, DataError) else "source"
    return ConfigError(f"{kind} problem: {error.message}", file=file, location="strategy_params", hint=error.hint)


register_validator()

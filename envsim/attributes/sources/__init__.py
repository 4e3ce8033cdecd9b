"""Data sources of attributes: inline examples, data files and documents, as `SourcePool`s."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

from envsim.attributes.sources.datasets import load_dataset
from envsim.attributes.sources.documents import load_documents
from envsim.attributes.sources.pool import SourcePool
from envsim.config.models import DocumentSource, ExampleSource, StrategyParams, TopicModelConfig, TopicSource
from envsim.errors import ConfigError, DataError, EnvsimError


def load_sources(
    params: StrategyParams,
    base_dir: Path,
    *,
    file: str | None = None,
    errors: list[EnvsimError] | None = None,
) -> list[SourcePool]:
    """Read every source of `params`.

    Raises ConfigError for a bad source definition and DataError for bad data, unless `errors` is
    given: then every failing source's error is appended to it and the good sources are returned.
    """
    loaders: list[Callable[[], SourcePool]] = []
    for i, examples in enumerate(params.input_examples):
        loaders.append(functools.partial(_inline, examples, f"strategy_params.input_examples[{i}]", file))
    for i, data in enumerate(params.input_data):
        loaders.append(
            functools.partial(load_dataset, data, base_dir, location=f"strategy_params.input_data[{i}]", file=file)
        )
    for i, docs in enumerate(params.input_documents):
        loaders.append(functools.partial(_documents, docs, base_dir, f"strategy_params.input_documents[{i}]", file))
    for i, topics in enumerate(params.input_topics):
        loaders.append(functools.partial(_topics, topics, base_dir, f"strategy_params.input_topics[{i}]", file))
    for key in ("topic_tree", "topic_graph"):
        built = getattr(params, key)
        if built is not None:
            loaders.append(functools.partial(_built_topics, built, base_dir, f"strategy_params.{key}", file))
    pools: list[SourcePool] = []
    for load in loaders:
        try:
            pool = load()
            _check_pool(pool, file)
        except EnvsimError as exc:
            if errors is None:
                raise
            errors.append(exc)
            continue
        pools.append(pool)
    return pools


def _inline(examples: ExampleSource, location: str, file: str | None) -> SourcePool:
    if not examples.examples:
        raise ConfigError("input_examples has no examples", file=file, location=f"{location}.examples")
    rows = [dict(row) for row in examples.examples]
    return SourcePool(examples.id, location, "inline examples", rows, examples.num_shots)


def _documents(docs: DocumentSource, base_dir: Path, location: str, file: str | None) -> SourcePool:
    seg = docs.segmentation_params
    if seg is not None and seg.segment_overlap >= seg.segment_length:
        raise ConfigError(
            f"segment_overlap ({seg.segment_overlap}) must be smaller than segment_length ({seg.segment_length})",
            file=file,
            location=f"{location}.segmentation_params.segment_overlap",
        )
    return load_documents(docs, base_dir, location=location, file=file)


def _topics(source: TopicSource, base_dir: Path, location: str, file: str | None) -> SourcePool:
    from envsim.topics.source import load_topic_source

    return load_topic_source(source, base_dir, location=location, file=file)


def _built_topics(config: TopicModelConfig, base_dir: Path, location: str, file: str | None) -> SourcePool:
    """A topic tree/graph section: its `save_as` file must hold the built model by now (runs build it
    first; `envsim topics build CONFIG` builds it alone)."""
    from envsim.topics.source import load_topic_source, topic_pool

    source = TopicSource(id=config.id, path=config.save_as, mode=config.mode)
    if not (base_dir / config.save_as).is_file():  # not built yet (validate): its names are known anyway
        return topic_pool(config.id, [[config.topic_prompt]], config.mode, location, "the topic model to build")
    return load_topic_source(source, base_dir, location=location, file=file)


def _check_pool(pool: SourcePool, file: str | None) -> None:
    if pool.few_shot and not pool.id:
        raise ConfigError(
            f"num_shots is {pool.num_shots}, but the source has no id to hold the shots",
            file=file,
            location=f"{pool.location}.id",
            hint="give the source an id; templates then use {<id>[0].<field>}",
        )
    if pool.few_shot and len(pool.rows) < int(pool.num_shots or 0):
        raise DataError(
            f"{pool.location}: num_shots is {pool.num_shots}, but {pool.origin} has only {len(pool.rows)} row(s)",
            hint="lower num_shots or add rows",
        )


__all__ = ["SourcePool", "load_sources"]

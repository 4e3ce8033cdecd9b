"""Build (or load, or resume) the topic models a config declares, before its samples are drawn."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from envsim.config.models import SynthConfig, TopicModelConfig
from envsim.errors import ConfigError
from envsim.models.base import ChatModel, GenerationParams
from envsim.topics.graph import TopicGraph
from envsim.topics.model import load_topic_model
from envsim.topics.tree import BuildCallback, TopicTree


def declared_topic_models(config: SynthConfig) -> list[tuple[str, TopicModelConfig]]:
    params = config.strategy_params
    return [(key, section) for key in ("topic_tree", "topic_graph") if (section := getattr(params, key)) is not None]


async def ensure_topic_models(
    config: SynthConfig,
    model: ChatModel | None,
    base_dir: Path,
    *,
    on_event: BuildCallback | None = None,
) -> list[TopicTree]:
    """Every declared topic model, complete and saved at its `save_as`: loaded when the file holds a
    complete model with the same settings, resumed when it holds a partial one, built otherwise."""
    built: list[TopicTree] = []
    for key, section in declared_topic_models(config):
        target = base_dir / section.save_as
        graph = key == "topic_graph"
        topics: TopicTree | None = None
        if target.is_file():
            loaded = load_topic_model(target)
            same = (
                isinstance(loaded, TopicGraph) == graph
                and loaded.root_prompt == section.topic_prompt
                and (loaded.degree, loaded.depth) == (section.degree, section.depth)
            )
            if same and isinstance(loaded, TopicTree):
                topics = loaded
        if topics is None:
            kind: type[TopicTree] = TopicGraph if graph else TopicTree
            topics = kind(section.topic_prompt, degree=section.degree, depth=section.depth)
        if not topics.complete:
            if model is None:
                raise ConfigError(
                    f"{key} needs a model to build its topics", location=f"strategy_params.{key}",
                    hint="set inference_config.model (or roles.attribute)",
                )  # fmt: skip
            params = GenerationParams(temperature=section.temperature)
            await topics.build(
                model, system_prompt=section.topic_system_prompt, params=params, on_event=on_event, save_to=str(target)
            )
        topics.save(target)
        built.append(topics)
    return built


def printing_events(echo: Callable[[str], Any]) -> BuildCallback:
    def on_event(name: str, details: dict[str, Any]) -> None:
        if name == "node_expanded":
            echo(f"expanded node {details['node']}: {details['children']} subtopic(s)")
        elif name == "build_complete":
            echo(f"topic model complete: {details['nodes']} topics, {details['leaves']} leaves")

    return on_event

"""Topics as an attribute source: each sample draws a root-to-leaf path (round robin over leaves, or
sampled), seen by templates as `{topic}` (the leaf), `{topic.path}` ("root -> ... -> leaf"),
`{topic.root}`, `{topic.depth}`; recorded as `{"topic": leaf, "path": [...]}`."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envsim.attributes.sources.pool import SourcePool
from envsim.config.models import TopicSource
from envsim.errors import ConfigError
from envsim.templating import TemplateNode
from envsim.topics.model import load_topic_model

PATH_SEPARATOR = " -> "


@dataclass(frozen=True)
class TopicValue(TemplateNode):
    path: tuple[str, ...]

    @property
    def path_text(self) -> str:
        return PATH_SEPARATOR.join(self.path)

    def template_text(self) -> str:
        return self.path[-1]

    def template_fields(self) -> Mapping[str, Any]:
        return {"path": self.path_text, "leaf": self.path[-1], "root": self.path[0], "depth": len(self.path) - 1}

    def json_value(self) -> Any:
        return {"topic": self.path[-1], "path": list(self.path)}


class TopicPool(SourcePool):
    """A source pool of topic paths; `sample` mode draws a path per sample from (seed, index)."""

    mode: str = "round_robin"

    def pick(self, index: int, seed: int) -> dict[str, Any]:
        if self.mode == "sample":
            return dict(random.Random(f"{seed}:{index}:{self.id}:topic").choice(self.rows))
        return dict(self.rows[index % len(self.rows)])


def topic_pool(source_id: str, paths: list[list[str]], mode: str, location: str, origin: str) -> TopicPool:
    if not paths:
        raise ConfigError(f"{origin} has no topic paths", location=location, hint="build the topic model first")
    pool = TopicPool(source_id, location, origin, [{source_id: TopicValue(tuple(p))} for p in paths])
    pool.mode = mode
    return pool


def load_topic_source(source: TopicSource, base_dir: Path, *, location: str, file: str | None) -> TopicPool:
    path = Path(source.path).expanduser()
    path = path if path.is_absolute() else base_dir / path
    if not path.is_file():
        raise ConfigError(
            f"topic file {path} does not exist",
            file=file,
            location=f"{location}.path",
            hint="build it with `envsim topics build CONFIG` or fix the path (relative to the config file)",
        )
    model = load_topic_model(path)
    return topic_pool(source.id, model.paths(), source.mode, location, str(path))

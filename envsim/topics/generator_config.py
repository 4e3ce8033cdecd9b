"""The YAML form of a DataSetGenerator run (DeepFabric's config layout), for `envsim generate CONFIG`:

    topic_tree: {topic_prompt: "...", degree: 3, depth: 2, save_as: topics.jsonl}   # or topic_graph (.json)
    data_engine:
      instructions: "..."
      generation_system_prompt: "..."
      model: openai:gpt-4o-mini          # or provider: openai + model_name: gpt-4o-mini
      conversation_type: chain_of_thought
      reasoning_style: agent
      default_batch_size: 5
      rate_limit: {max_requests_per_minute: 500, max_retries: 5, initial_retry_delay: 1, max_retry_delay: 30}
    dataset:
      creation: {num_steps: 20, batch_size: 5, sys_msg: "You are a helpful assistant."}
      save_as: dataset.jsonl

Relative paths resolve against the config file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from envsim.config.locations import format_loc
from envsim.config.models import TopicModelConfig
from envsim.config.pydantic_errors import explain_validation_error
from envsim.config.yaml_source import read_yaml
from envsim.errors import ConfigError, ConfigErrors
from envsim.topics.generator import RateLimit


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataEngine(_Strict):
    instructions: str = ""
    generation_system_prompt: str | None = None
    provider: str | None = None
    model_name: str | None = None
    model: str | None = None  # an envsim model string, e.g. "openai:gpt-4o-mini"
    temperature: float | None = Field(default=0.7, ge=0)
    max_retries: int = Field(default=3, ge=0)
    request_timeout: float = Field(default=60.0, gt=0)
    default_batch_size: int = Field(default=5, ge=1)
    default_num_examples: int = Field(default=3, ge=0)
    example_data: str | list[dict[str, Any]] | None = None
    conversation_type: Literal["basic", "chain_of_thought"] = "basic"
    reasoning_style: Literal["freetext", "agent"] = "freetext"
    sys_msg: str | None = None
    tools: list[dict[str, Any]] = Field(default_factory=list)
    rate_limit: RateLimit | None = None
    deduplicate: bool = True
    similarity_threshold: float = Field(default=0.85, gt=0, le=1)


class Creation(_Strict):
    num_steps: int = Field(default=1, ge=1)
    batch_size: int | None = Field(default=None, ge=1)
    sys_msg: str | None = None
    provider: str | None = None
    model: str | None = None


class DatasetSection(_Strict):
    creation: Creation = Field(default_factory=Creation)
    save_as: str | None = None


class GeneratorConfig(_Strict):
    dataset_system_prompt: str | None = None
    topic_tree: TopicModelConfig | None = None
    topic_graph: TopicModelConfig | None = None
    data_engine: DataEngine
    dataset: DatasetSection = Field(default_factory=DatasetSection)

    source_path: str | None = Field(default=None, exclude=True)

    @property
    def base_dir(self) -> Path:
        return Path(self.source_path).parent if self.source_path else Path.cwd()

    def model_string(self, override: str | None = None) -> str | None:
        engine = self.data_engine
        creation = self.dataset.creation
        name = override or creation.model or engine.model or engine.model_name
        provider = creation.provider or engine.provider
        if name and ":" not in name.split("@", 1)[0] and provider:
            return f"{provider}:{name}"
        return name


def is_generator_config(data: Any) -> bool:
    return isinstance(data, dict) and "data_engine" in data


def load_generator_config(path: str | Path) -> GeneratorConfig:
    doc = read_yaml(Path(path))
    if not isinstance(doc.data, dict):
        raise ConfigError("a generator config must be a mapping", file=str(path))
    try:
        config = GeneratorConfig.model_validate(doc.data)
    except ValidationError as exc:
        errors = [
            ConfigError(
                e.message, file=str(path), location=format_loc(e.loc) or None, hint=e.hint, line=doc.line_of(e.loc)
            )
            for e in explain_validation_error(exc, GeneratorConfig)
        ]
        raise ConfigErrors(errors) from None
    if config.topic_tree and config.topic_graph:
        raise ConfigError("give topic_tree or topic_graph, not both", file=str(path), location="topic_graph")
    config.source_path = str(Path(path).resolve())
    return config

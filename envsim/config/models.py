"""Typed models of every section of an envsim config (the seed's synthesis format).

These are the public contract. Unknown keys are errors (`extra="forbid"`); the loader turns pydantic
errors into `ConfigError`s that name the file and the path inside it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from envsim.config.spellings import normalize_environment, normalize_role, normalize_role_keys


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------- environments


class DeterministicOutput(StrictModel):
    input: dict[str, Any]
    output: Any


class ToolConfig(StrictModel):
    id: str
    name: str | None = None  # display name; the model sees `id`
    description: str = ""
    read_only: bool = False
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})
    output_schema: dict[str, Any] | None = None
    # deterministic environments
    deterministic_outputs: list[DeterministicOutput] = Field(default_factory=list)
    # Fallback output for unmatched inputs (deterministic). Presence is what counts, so check
    # `"default_output" in tool.model_fields_set`, not truthiness.
    default_output: Any = None
    # python environments: "package.module:function"
    handler: str | None = None


class StateParams(StrictModel):
    state_schema: dict[str, Any] | None = None
    initial_state: dict[str, Any] = Field(default_factory=dict)
    # A JSON file holding the initial state, relative to the file that names it; the loader reads it into
    # `initial_state` (setting both is an error).
    initial_state_path: str | None = None


class EnvironmentType(StrEnum):
    SYNTHETIC = "synthetic"
    DETERMINISTIC = "deterministic"
    PYTHON = "python"


class EnvironmentConfig(StrictModel):
    id: str
    type: EnvironmentType
    name: str | None = None
    description: str = ""
    system_prompt: str | None = None  # synthetic: the persona of the simulated backend
    state_params: StateParams | None = None  # present => stateful
    cache_by_input: bool = False
    include_history: bool = False  # synthetic stateless: show the conversation so far
    max_attempts: int = Field(default=3, ge=1)  # synthetic: re-asks on invalid output / rejected patch
    module: str | None = None  # python: import this module so its @tool registrations are found
    tools: list[ToolConfig] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _accept_oumi_spelling(cls, data: Any) -> Any:
        # The loader normalizes first (to keep error paths); this covers configs built in Python.
        normalized = normalize_environment(data)
        if normalized.issues:
            raise ValueError("; ".join(issue.message for issue in normalized.issues))
        return normalized.data


class EnvironmentCatalog(StrictModel):
    environments: list[EnvironmentConfig] = Field(default_factory=list)

    # Set by the loader when the catalog came from its own file (relative paths resolve against it).
    source_path: str | None = Field(default=None, exclude=True)


# --------------------------------------------------------------------------- attributes


class ChatRole(StrEnum):
    SYSTEM = "SYSTEM"
    USER = "USER"
    ASSISTANT = "ASSISTANT"


class TextMessage(StrictModel):
    role: ChatRole
    content: str

    _role_in_any_case = field_validator("role", mode="before")(normalize_role)


class SampledAttributeValue(StrictModel):
    id: str
    name: str | None = None
    description: str | None = None
    sample_rate: float | None = Field(default=None, ge=0.0, le=1.0)


class SampledAttribute(StrictModel):
    id: str
    name: str | None = None
    description: str | None = None
    possible_values: list[SampledAttributeValue]


class AttributeCombination(StrictModel):
    combination: dict[str, str]  # attribute id -> value id
    sample_rate: float = Field(ge=0.0, le=1.0)


class PostprocessingParams(StrictModel):
    id: str  # the id the processed text is stored under
    keep_original_text_attribute: bool = True
    cut_prefix: str | None = None
    cut_suffix: str | None = None
    regex: str | None = None
    strip_whitespace: bool = True
    added_prefix: str | None = None
    added_suffix: str | None = None


class GeneratedAttribute(StrictModel):
    id: str
    instruction_messages: list[TextMessage]
    postprocessing_params: PostprocessingParams | None = None
    output_schema: dict[str, Any] | None = None  # structured generation when given


class TransformationType(StrEnum):
    STRING = "STRING"
    LIST = "LIST"
    DICT = "DICT"
    CHAT = "CHAT"


class TransformationStrategy(StrictModel):
    type: TransformationType
    string_transform: str | None = None
    list_transform: list[str] | None = None
    dict_transform: dict[str, str] | None = None
    chat_transform: list[TextMessage] | None = None


class TransformedAttribute(StrictModel):
    id: str
    transformation_strategy: TransformationStrategy


class ExampleSource(StrictModel):
    id: str | None = None
    examples: list[dict[str, Any]]
    num_shots: int | None = Field(default=None, ge=1)


class DatasetSource(StrictModel):
    id: str | None = None
    path: str  # file or glob, relative to the config file
    attribute_map: dict[str, str] | None = None  # column -> attribute id
    num_shots: int | None = Field(default=None, ge=1)


class SegmentationParams(StrictModel):
    id: str
    segment_length: int = Field(default=2048, ge=1)  # characters
    segment_overlap: int = Field(default=0, ge=0)
    keep_original_text: bool = False


class DocumentSource(StrictModel):
    id: str
    path: str  # file or glob, relative to the config file
    segmentation_params: SegmentationParams | None = None
    num_shots: int | None = Field(default=None, ge=1)


class MultiTurnAttribute(StrictModel):
    id: str
    min_turns: int = Field(default=1, ge=1)
    max_turns: int = Field(default=4, ge=1)
    role_instruction_messages: dict[str, str]  # USER and ASSISTANT required
    output_system_prompt: str | None = None
    conversation_planner: str | None = None
    available_environments: list[str] = Field(default_factory=list)  # empty = all
    available_tools: list[str] = Field(default_factory=list)  # empty = all of those environments
    max_tool_rounds: int = Field(default=5, ge=1)
    user_stop_marker: str = "[END_CONVERSATION]"

    _role_keys_in_any_case = field_validator("role_instruction_messages", mode="before")(normalize_role_keys)


class StrategyParams(StrictModel):
    sampled_attributes: list[SampledAttribute] = Field(default_factory=list)
    combination_sampling: list[AttributeCombination] = Field(default_factory=list)
    generated_attributes: list[GeneratedAttribute] = Field(default_factory=list)
    transformed_attributes: list[TransformedAttribute] = Field(default_factory=list)
    input_examples: list[ExampleSource] = Field(default_factory=list)
    input_data: list[DatasetSource] = Field(default_factory=list)
    input_documents: list[DocumentSource] = Field(default_factory=list)
    multiturn_attributes: list[MultiTurnAttribute] = Field(default_factory=list)
    passthrough_attributes: list[str] | None = None  # None = all attributes reach the output


# --------------------------------------------------------------------------- inference


class EndpointFeatures(StrictModel):
    """What an OpenAI-compatible endpoint accepts, where its server profile is wrong (docs/servers.md).
    Unset keys come from the profile; a set key is obeyed, and a refusal of it stops the run."""

    tool_choice_modes: list[Literal["auto", "none", "required", "function"]] | None = None
    explicit_tool_choice: bool | None = None  # send tool_choice: auto when the caller leaves it open
    seed: bool | None = None
    parallel_tool_calls: bool | None = None
    stream_options: bool | None = None
    usage_details: bool | None = None
    tool_call_content: Literal["null", "empty"] | None = None  # content of a tool-call-only assistant message


class ModelSpec(StrictModel):
    """Which model: either a model string ("openai:gpt-4o-mini", "scripted:path.yaml") in `model_name`,
    or a bare model name plus `engine` (OPENAI | ANTHROPIC | VLLM | SGLANG | ... | SCRIPTED | FUNCTION)."""

    model_name: str
    engine: str | None = None
    base_url: str | None = None
    api_key_env: str | None = None  # name of the environment variable holding the key
    api_key: str | None = None  # discouraged: only honoured with allow_api_key_in_config
    allow_api_key_in_config: bool = False
    # OpenAI-compatible models: "direct" (default; aiohttp with the SDK's headers) or "sdk" (every request
    # through the openai SDK's client). See docs/models.md.
    transport: Literal["direct", "sdk"] | None = None
    # OpenAI-compatible models: which server this is (its profile; default: asked from the server), how a
    # structured reply is asked for ("auto": the profile's best, falling back on a refusal), and feature
    # overrides. See docs/servers.md.
    server: (
        Literal[
            "openai",
            "anthropic",
            "vllm",
            "sglang",
            "ollama",
            "llama-server",
            "llama-cpp-python",
            "lmstudio",
            "tgi",
            "generic",
        ]
        | None
    ) = None
    structured_output: Literal["auto", "json_schema", "json_object", "guided", "prompt"] = "auto"
    features: EndpointFeatures | None = None


class GenerationConfig(StrictModel):
    max_new_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0.0)
    top_p: float | None = Field(default=None, ge=0.0, le=1.0)
    seed: int | None = None
    stop_strings: list[str] | None = None


class RemoteParams(StrictModel):
    num_workers: int = Field(default=16, ge=1)  # open episodes / concurrent requests
    num_processes: int = Field(default=1, ge=1)  # worker processes sharing num_workers (see docs/config.md)
    politeness_policy: float = Field(default=0.0, ge=0.0)  # seconds a worker waits between requests
    max_retries: int = Field(default=5, ge=0)  # network/server errors
    max_validation_retries: int = Field(default=3, ge=0)  # re-asks on invalid structured output
    requests_per_minute: float | None = Field(default=None, gt=0)
    tokens_per_minute: float | None = Field(default=None, gt=0)
    connection_timeout: float = Field(default=300.0, gt=0)
    api_url: str | None = None


class RoleModels(StrictModel):
    """Per-role overrides; unset roles use `inference_config.model`."""

    planner: ModelSpec | None = None
    user: ModelSpec | None = None
    assistant: ModelSpec | None = None
    environment: ModelSpec | None = None
    attribute: ModelSpec | None = None


class CacheConfig(StrictModel):
    enabled: bool = True
    path: str | None = None  # default: .envsim_cache next to the run directory


class InferenceConfig(StrictModel):
    model: ModelSpec
    engine: str | None = None  # oumi puts the engine here; same meaning as model.engine
    generation: GenerationConfig = Field(default_factory=GenerationConfig)
    remote_params: RemoteParams = Field(default_factory=RemoteParams)
    roles: RoleModels = Field(default_factory=RoleModels)
    cache: CacheConfig = Field(default_factory=CacheConfig)
    prices: dict[str, dict[str, float]] | None = None  # model -> {input, output, cache_read, cache_write} per 1M

    @model_validator(mode="after")
    def _one_engine(self) -> InferenceConfig:
        # oumi puts `engine` here, the seed under `model`; both readers see the same value afterwards.
        if self.engine and self.model.engine and self.engine.upper() != self.model.engine.upper():
            raise ValueError(
                f"engine is given twice with different values ('{self.engine}' here, "
                f"'{self.model.engine}' under model); keep one"
            )
        self.model.engine = self.model.engine or self.engine
        self.engine = self.engine or self.model.engine
        return self


# --------------------------------------------------------------------------- top level


class SynthConfig(StrictModel):
    strategy: Literal["GENERAL"] = "GENERAL"
    num_samples: int = Field(default=1, ge=1)
    seed: int = 0
    output_path: str | None = None
    environment_config: EnvironmentCatalog | None = None
    environment_config_path: str | None = None
    scenario_catalog_path: str | None = None  # run a scenario catalog instead of sampling attributes
    strategy_params: StrategyParams = Field(default_factory=StrategyParams)
    inference_config: InferenceConfig

    # Set by the loader, not by users: where the file lives (relative paths resolve against it).
    source_path: str | None = Field(default=None, exclude=True)

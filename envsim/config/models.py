"""Typed models of every section of an envsim config (the seed's synthesis format).

These are the public contract. Unknown keys are errors (`extra="forbid"`); the loader turns pydantic
errors into `ConfigError`s that name the file and the path inside it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from envsim.config.spellings import normalize_environment, normalize_role, normalize_role_keys

# Servers with a known profile (envsim/models/endpoint_profiles.py) and how a structured reply is asked for.
ServerName = Literal[
    "openai", "anthropic", "vllm", "sglang", "ollama", "llama-server", "llama-cpp-python", "lmstudio", "tgi", "generic"
]
StructuredOutputSetting = Literal["auto", "json_schema", "json_object", "guided", "prompt"]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------- environments


class DeterministicOutput(StrictModel):
    input: dict[str, Any]
    output: Any


class StateQueryConfig(StrictModel):
    """Records of a collection whose field equals a value: `{collection: /orders, where: {user_id: "{user_id}"}}`."""

    collection: str  # JSON Pointer to an object of records (keyed by id) or an array of records
    # record field (or a JSON Pointer inside the record, "/address/zip") -> value; a string value may use
    # {argument} placeholders, and a value that is exactly "{argument}" takes the argument as is (typed)
    where: dict[str, Any]
    limit: int = Field(default=20, ge=1)  # at most this many records are shown


class StateViewConfig(StrictModel):
    """The part of the state a simulated tool is shown (synthetic environments); see docs/state_views.md."""

    pointers: list[str] = Field(default_factory=list)  # JSON Pointers, {argument} placeholders allowed
    queries: list[StateQueryConfig] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _pointer_list_shorthand(cls, data: Any) -> Any:
        # `state_view: [/orders/{order_id}]` is short for `state_view: {pointers: [...]}`
        return {"pointers": data} if isinstance(data, list) else data


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
    # python environments, and python-run tools of a synthetic (hybrid) environment: "package.module:function"
    handler: str | None = None
    # oumi's executors: "module.function" (or a name registered with oumi's @register_tool_executor),
    # called as fn(arguments=..., state=...) / fn(arguments=..., context=<sqlite3 connection>); see
    # envsim/environments/executors.py. A synthetic environment runs such tools in Python.
    executor: str | None = None
    # database environments: one SQL statement run with the arguments as named parameters (:name)
    sql: str | None = None
    # synthetic stateful environments: what the simulating model is shown, and where it may add new records
    state_view: StateViewConfig | None = None
    allow_create: list[str] = Field(default_factory=list)  # JSON Pointers of collections, e.g. /tickets
    # python environments: seconds one call may take (None: the environment's timeout_s)
    timeout_s: float | None = Field(default=None, gt=0)


class StateParams(StrictModel):
    state_schema: dict[str, Any] | None = None
    initial_state: dict[str, Any] = Field(default_factory=dict)
    # A JSON file holding the initial state, relative to the file that names it; the loader reads it into
    # `initial_state` (setting both is an error). A list names candidates (the first that exists is read);
    # `${NAME}` in a path is an environment variable.
    initial_state_path: str | list[str] | None = None


class EnvironmentType(StrEnum):
    SYNTHETIC = "synthetic"
    DETERMINISTIC = "deterministic"
    PYTHON = "python"
    DATABASE = "database"


class ToolGrounding(StrictModel):
    fields: list[str] = Field(min_length=1)


class StateGrounding(StrictModel):
    state_path: str = Field(min_length=1)  # a top-level key of the state (or a table of a database)
    fields: list[str] = Field(min_length=1)


class GroundingConfig(StrictModel):
    """oumi's grounding: facts sampled per conversation from an environment's lookup tables, state or
    database tables, shown to the planner and the user simulator (envsim/simulation/grounding.py)."""

    sample_size: int = Field(default=3, ge=1)
    seed: int | None = None  # None: derived from the episode seed (oumi: OS entropy)
    tools: dict[str, ToolGrounding] = Field(default_factory=dict)
    state: list[StateGrounding] = Field(default_factory=list)

    @model_validator(mode="after")
    def _has_a_source(self) -> GroundingConfig:
        if not self.tools and not self.state:
            raise ValueError("grounding has neither `tools` nor `state` entries; give one so facts can be sampled")
        return self


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
    # synthetic stateful: the most tokens (estimated as characters / 4) a simulated call's prompt should
    # take; when showing the whole state would exceed it, envsim shows a view of the state instead
    prompt_token_budget: int = Field(default=6000, ge=500)
    module: str | None = None  # python: import this module so its @tool registrations are found
    timeout_s: float = Field(default=30.0, gt=0)  # python: seconds a tool call may take (per tool: tools[].timeout_s)
    tools: list[ToolConfig] = Field(default_factory=list)
    grounding: GroundingConfig | None = None
    # database (SQLite): the schema and seed rows as SQL scripts, or an existing database file (read, never
    # written: every conversation works on its own in-memory copy)
    schema_sql: str | None = None
    seed_sql: str | None = None
    db_path: str | None = None

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
    # envsim's: a text reply cut off at the token limit (finish_reason: length) is kept and flagged in the
    # trace and the run summary ("flag"), or fails the sample with the reason ("reject").
    on_truncation: Literal["flag", "reject"] = "flag"


class TransformationType(StrEnum):
    STRING = "STRING"
    LIST = "LIST"
    DICT = "DICT"
    CHAT = "CHAT"


class ChatTransform(StrictModel):
    """A CHAT transform; written as a bare list of messages or as oumi's `{messages: [...]}` mapping."""

    messages: list[TextMessage]
    conversation_id: str | None = None  # None: "<attribute id>-<uuid derived from the sample>"
    metadata: dict[str, str] | None = None  # templates, rendered like a DICT transform


class TransformationStrategy(StrictModel):
    type: TransformationType
    string_transform: str | None = None
    list_transform: list[str] | None = None
    dict_transform: dict[str, str] | None = None
    chat_transform: ChatTransform | None = None

    _type_in_any_case = field_validator("type", mode="before")(normalize_role)

    @field_validator("chat_transform", mode="before")
    @classmethod
    def _bare_list_is_messages(cls, value: Any) -> Any:
        return {"messages": value} if isinstance(value, list) else value


class TransformedAttribute(StrictModel):
    id: str
    transformation_strategy: TransformationStrategy


class ExampleSource(StrictModel):
    id: str | None = None
    examples: list[dict[str, Any]]
    num_shots: int | None = Field(default=None, ge=1)


class DatasetSource(StrictModel):
    id: str | None = None
    path: str  # file or glob, relative to the config file; or hf:<dataset> (the `datasets` library)
    attribute_map: dict[str, str] | None = None  # column -> attribute id
    num_shots: int | None = Field(default=None, ge=1)
    hf_split: str | None = None  # hf: datasets
    hf_revision: str | None = None  # hf: datasets


class SegmentationStrategy(StrEnum):
    CHARACTERS = "CHARACTERS"
    TOKENS = "TOKENS"  # oumi's only strategy


class SegmentationParams(StrictModel):
    id: str
    # None: characters (envsim's default; oumi's is TOKENS with the openai-community/gpt2 tokenizer)
    segmentation_strategy: SegmentationStrategy | None = None
    # TOKENS: a tokenizer.json file or a directory holding one, a Hugging Face tokenizer id (local cache
    # first), or a tiktoken encoding name (when tiktoken is installed)
    tokenizer: str | None = None
    segment_length: int = Field(default=2048, ge=1)  # characters, or tokens with TOKENS
    segment_overlap: int = Field(default=0, ge=0)
    keep_original_text: bool = False

    _strategy_in_any_case = field_validator("segmentation_strategy", mode="before")(normalize_role)


class DocumentSource(StrictModel):
    id: str
    path: str  # file or glob, relative to the config file
    segmentation_params: SegmentationParams | None = None
    num_shots: int | None = Field(default=None, ge=1)


class TopicSource(StrictModel):
    """Topic paths from a file (a topic tree's JSONL, DeepFabric's too, or a graph's node-link JSON):
    each sample draws one root-to-leaf path, as `{<id>}` (the leaf) and `{<id>.path}` (the whole path)."""

    id: str = "topic"
    path: str  # relative to the config file
    mode: Literal["round_robin", "sample"] = "round_robin"


class TopicModelConfig(StrictModel):
    """A topic tree or graph built for the run (DeepFabric's `topic_tree` / `topic_graph`): loaded from
    `save_as` when that file holds a complete model, else built (or resumed) with the attribute model."""

    topic_prompt: str
    degree: int = Field(default=3, ge=1)
    depth: int = Field(default=2, ge=1)
    save_as: str  # where the model is saved (relative to the config file); a partial file resumes
    topic_system_prompt: str | None = None
    temperature: float | None = Field(default=None, ge=0.0)
    id: str = "topic"
    mode: Literal["round_robin", "sample"] = "round_robin"


class Reasoning(StrictModel):
    """Chain of thought for a conversation's assistant turns: `freetext` (one free reasoning text per
    turn) or `agent` (step-by-step reasoning before each tool call and before the final answer). The
    reasoning is kept in the trace apart from the content (`Message.reasoning`)."""

    style: Literal["freetext", "agent"] = "freetext"


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
    # oumi's name for max_tool_rounds (tool-calling rounds in one assistant turn before a final answer is
    # asked for); setting it sets max_tool_rounds
    max_consecutive_tool_turns: int | None = Field(default=None, ge=1)
    user_stop_marker: str = "[END_CONVERSATION]"
    reasoning: Reasoning | None = None  # chain of thought in the assistant's turns (docs/topics.md)

    _role_keys_in_any_case = field_validator("role_instruction_messages", mode="before")(normalize_role_keys)

    @model_validator(mode="after")
    def _one_tool_round_limit(self) -> MultiTurnAttribute:
        oumi = self.max_consecutive_tool_turns
        if oumi is None:
            return self
        if "max_tool_rounds" in self.model_fields_set and self.max_tool_rounds != oumi:
            raise ValueError(
                f"max_tool_rounds ({self.max_tool_rounds}) and max_consecutive_tool_turns ({oumi}) are two names "
                "for the same limit with different values; keep one"
            )
        self.max_tool_rounds = oumi
        return self


class StrategyParams(StrictModel):
    sampled_attributes: list[SampledAttribute] = Field(default_factory=list)
    combination_sampling: list[AttributeCombination] = Field(default_factory=list)
    generated_attributes: list[GeneratedAttribute] = Field(default_factory=list)
    transformed_attributes: list[TransformedAttribute] = Field(default_factory=list)
    input_examples: list[ExampleSource] = Field(default_factory=list)
    input_data: list[DatasetSource] = Field(default_factory=list)
    input_documents: list[DocumentSource] = Field(default_factory=list)
    multiturn_attributes: list[MultiTurnAttribute] = Field(default_factory=list)
    input_topics: list[TopicSource] = Field(default_factory=list)
    topic_tree: TopicModelConfig | None = None
    topic_graph: TopicModelConfig | None = None
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


class OumiLocalModelParams(StrictModel):
    """oumi's model keys besides `model_name`: read only by its in-process engines (loading weights and a
    tokenizer); its remote engines, like envsim, which only talks to servers, do not use them.
    Accepted so oumi configs load; `envsim validate` names the ones a config sets."""

    adapter_model: str | None = None
    tokenizer_name: str | None = None
    tokenizer_pad_token: str | None = None
    tokenizer_kwargs: dict[str, Any] | None = None
    processor_kwargs: dict[str, Any] | None = None
    model_max_length: int | None = None
    load_pretrained_weights: bool | None = None
    trust_remote_code: bool | None = None
    torch_dtype_str: str | None = None
    compile: bool | None = None
    chat_template: str | None = None
    chat_template_kwargs: dict[str, Any] | None = None
    attn_implementation: str | None = None
    device_map: str | dict[str, Any] | None = None
    model_kwargs: dict[str, Any] | None = None
    enable_liger_kernel: bool | None = None
    shard_for_eval: bool | None = None
    freeze_layers: list[str] | None = None
    model_revision: str | None = None
    tool_call_parser: str | None = None


OUMI_LOCAL_MODEL_KEYS = tuple(OumiLocalModelParams.model_fields)


class ModelSpec(OumiLocalModelParams):
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
    server: ServerName | None = None
    structured_output: StructuredOutputSetting = "auto"
    features: EndpointFeatures | None = None


# oumi's generation keys that only its in-process engines (NATIVE, local vLLM, llama.cpp) read; its remote
# engines ignore them, and so does envsim, which only talks to servers (`envsim validate` lists them).
LOCAL_ENGINE_GENERATION_KEYS = (
    "batch_size",
    "exclude_prompt_from_response",
    "use_cache",
    "num_beams",
    "use_sampling",
    "skip_special_tokens",
)
TOOL_CHOICE_MODES = ("auto", "none", "required")


class GenerationConfig(StrictModel):
    max_new_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0.0)
    top_p: float | None = Field(default=None, ge=0.0, le=1.0)
    seed: int | None = None
    stop_strings: list[str] | None = None
    # oumi's remote-engine sampling keys, sent as oumi sends them (min_p and stop_token_ids are vLLM's).
    frequency_penalty: float | None = Field(default=None, ge=-2.0, le=2.0)
    presence_penalty: float | None = Field(default=None, ge=-2.0, le=2.0)
    logit_bias: dict[str, float] | None = None  # token id -> bias
    min_p: float | None = Field(default=None, ge=0.0, le=1.0)
    stop_token_ids: list[int] | None = None
    # The assistant's tool choice where envsim would send "auto": auto | none | required | a tool name
    # (oumi's OpenAI form {type: function, function: {name: ...}} is read as the name).
    tool_choice: str | None = None
    parallel_tool_calls: bool | None = None  # false: at most one tool call per assistant message
    guided_decoding: dict[str, Any] | None = None  # accepted; see oumi_differences (not applied to turns)
    batch_size: int | None = None
    exclude_prompt_from_response: bool | None = None
    use_cache: bool | None = None
    num_beams: int | None = None
    use_sampling: bool | None = None
    skip_special_tokens: bool | None = None

    @field_validator("tool_choice", mode="before")
    @classmethod
    def _tool_choice_name(cls, value: Any) -> Any:
        if isinstance(value, dict):
            name = (value.get("function") or {}).get("name") if value.get("type") == "function" else None
            if not isinstance(name, str) or not name:
                raise ValueError("a tool_choice mapping is {type: function, function: {name: TOOL}}")
            return name
        return value

    @field_validator("logit_bias", mode="before")
    @classmethod
    def _token_ids_as_text(cls, value: Any) -> Any:
        # YAML reads `{1234: -100}` with integer keys; the wire format has string keys.
        return {str(k): v for k, v in value.items()} if isinstance(value, dict) else value


class RemoteParams(StrictModel):
    num_workers: int = Field(default=16, ge=1)  # open episodes / concurrent requests
    num_processes: int = Field(default=1, ge=1)  # worker processes sharing num_workers (see docs/config.md)
    politeness_policy: float = Field(default=0.0, ge=0.0)  # seconds a worker waits between requests
    max_retries: int = Field(default=5, ge=0)  # network/server errors
    max_validation_retries: int = Field(default=3, ge=0)  # re-asks on invalid structured output
    requests_per_minute: float | None = Field(default=None, gt=0)
    tokens_per_minute: float | None = Field(default=None, gt=0)
    connection_timeout: float = Field(default=120.0, gt=0)  # read timeout (s); connecting has its own 5 s
    # Backoff of retried requests (seconds): the first wait's cap, and the largest wait (full jitter).
    initial_retry_delay: float = Field(default=1.0, ge=0)
    max_retry_delay: float = Field(default=60.0, ge=0)
    api_url: str | None = None  # oumi: the endpoint; becomes model.base_url (see InferenceConfig)
    # oumi's other remote params (docs/config.md "oumi users" says what each does here)
    api_key: str | None = None  # like model.api_key: only honoured with model.allow_api_key_in_config
    api_key_env_varname: str | None = None  # becomes model.api_key_env
    use_adaptive_concurrency: bool = True  # false pins concurrency at num_workers (no AIMD decrease)
    retry_backoff_base: float | None = Field(default=None, gt=0)  # first retry delay (s); None: envsim's
    retry_backoff_max: float | None = Field(default=None, gt=0)  # longest retry delay (s); None: envsim's
    input_tokens_per_minute: float | None = Field(default=None, gt=0)  # summed into tokens_per_minute
    output_tokens_per_minute: float | None = Field(default=None, gt=0)  # summed into tokens_per_minute
    user_id: str | None = None  # accepted, not sent
    batch_completion_window: str | None = None  # accepted; envsim's batch jobs use the provider default

    @model_validator(mode="after")
    def _oumi_token_budgets(self) -> RemoteParams:
        split = [v for v in (self.input_tokens_per_minute, self.output_tokens_per_minute) if v is not None]
        if split and self.tokens_per_minute is None:
            self.tokens_per_minute = sum(split)
        return self


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


class BatchConfig(StrictModel):
    """Batch mode (`inference_config.batch: true`, or `envsim run --batch`): the roles' model calls go
    through the provider's batch API in waves (see docs/batch.md). Half the price, hours of latency."""

    enabled: bool = True
    # Roles whose calls are batched; the others stay online (e.g. keep `environment` online).
    roles: list[Literal["planner", "user", "assistant", "environment", "attribute"]] = Field(
        default_factory=lambda: ["planner", "user", "assistant", "environment", "attribute"]
    )
    collect_s: float = Field(default=0.5, gt=0)  # a wave is sent once no request came for this long
    poll_interval_s: float = Field(default=30.0, gt=0)
    max_attempts: int = Field(default=3, ge=1)  # per request, failed and expired rows resubmitted

    @model_validator(mode="before")
    @classmethod
    def _from_bool(cls, data: Any) -> Any:
        return {"enabled": data} if isinstance(data, bool) else data


class InferenceConfig(StrictModel):
    model: ModelSpec
    engine: str | None = None  # oumi puts the engine here; same meaning as model.engine
    generation: GenerationConfig = Field(default_factory=GenerationConfig)
    remote_params: RemoteParams = Field(default_factory=RemoteParams)
    roles: RoleModels = Field(default_factory=RoleModels)
    cache: CacheConfig = Field(default_factory=CacheConfig)
    prices: dict[str, dict[str, float]] | None = None  # model -> {input, output, cache_read, cache_write} per 1M
    batch: BatchConfig | None = None
    # oumi's inference-only keys: input_path and output_path are refused for synthesis, as oumi does;
    # progress_path (oumi's progress counters) is accepted, envsim's run directory has status.json.
    input_path: str | None = None
    output_path: str | None = None
    progress_path: str | None = None

    @field_validator("input_path", "output_path")
    @classmethod
    def _not_for_synthesis(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return value
        where = (
            "the samples come from strategy_params"
            if info.field_name == "input_path"
            else "use the top-level output_path"
        )
        raise ValueError(f"inference_config.{info.field_name} is not supported for synthesis (as in oumi); {where}")

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
        self._oumi_remote_endpoint()
        return self

    def _oumi_remote_endpoint(self) -> None:
        """oumi names the endpoint and its key in remote_params; envsim in the model section."""
        remote = self.remote_params
        if remote.api_url and not self.model.base_url:
            self.model.base_url = openai_base_url(remote.api_url)
        if remote.api_key_env_varname and not self.model.api_key_env:
            self.model.api_key_env = remote.api_key_env_varname
        if remote.api_key and not self.model.api_key:
            self.model.api_key = remote.api_key


def openai_base_url(api_url: str) -> str:
    """oumi's `api_url` is the full chat-completions URL; an OpenAI client wants the `/v1` base."""
    url = api_url.rstrip("/")
    for suffix in ("/chat/completions", "/completions", "/messages"):
        if url.endswith(suffix):
            return url[: -len(suffix)]
    return url


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

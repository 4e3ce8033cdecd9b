"""The one interface to every LLM: `ChatModel.generate(ModelRequest) -> ModelResponse`.

Planner, user, assistant, synthetic tools and generated attributes all call models through this.
Providers convert to and from their wire formats inside their own modules.
"""

from __future__ import annotations

import abc
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

from envsim.canonical import canonical_json, stable_hash
from envsim.messages import Message, ToolSpec

# Generation settings added after the first five: left out of a request's JSON when unset, so the
# canonical key (the response cache, the mock's replies) of every request without them stays the same.
_OMITTED_WHEN_UNSET = (
    "frequency_penalty",
    "presence_penalty",
    "logit_bias",
    "min_p",
    "stop_token_ids",
    "tool_choice",
    "parallel_tool_calls",
)


class GenerationParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    seed: int | None = None
    stop: list[str] | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    logit_bias: dict[str, float] | None = None
    min_p: float | None = None  # vLLM's
    stop_token_ids: list[int] | None = None  # vLLM's
    # The tool choice of a request that offers tools and leaves the choice open ("auto"), and whether
    # its reply may hold several calls; the callers apply them (see RoleCaller.generate).
    tool_choice: str | None = None
    parallel_tool_calls: bool | None = None

    @model_serializer(mode="wrap")
    def _omit_unset(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        return {k: v for k, v in data.items() if not (k in _OMITTED_WHEN_UNSET and v is None)}


class RequestContext(BaseModel):
    """Who is calling, for usage accounting and the response cache. Never sent to a provider."""

    model_config = ConfigDict(extra="forbid")

    episode_id: str | None = None
    role: str | None = None  # planner | user | assistant | environment | attribute | ...
    # 1 for a first ask; n > 1 when the caller re-asks after an invalid reply (validation retries).
    attempt: int = 1


class ModelRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    messages: list[Message]
    tools: list[ToolSpec] = Field(default_factory=list)
    # "auto" | "none" | "required" | a tool name (forces that tool)
    tool_choice: str | None = None
    parallel_tool_calls: bool | None = None
    # JSON schema the reply's text must satisfy (provider JSON-schema mode where supported).
    response_schema: dict[str, Any] | None = None
    response_schema_name: str = "response"
    params: GenerationParams = Field(default_factory=GenerationParams)
    context: RequestContext = Field(default_factory=RequestContext)
    # How many leading messages are a stable prefix worth a provider's prompt cache (Anthropic gets a
    # `cache_control` breakpoint there). A hint only: it never changes the reply, so it is excluded from
    # dumps and hence from the canonical key (equal requests with and without it share cache entries).
    cache_prefix: int | None = Field(default=None, ge=1, exclude=True)

    def canonical_key(self, model_name: str) -> str:
        """Hash of everything that determines the reply (context excluded)."""
        payload = self.model_dump(mode="json", exclude={"context"})
        payload["model"] = model_name
        return stable_hash(payload)

    def canonical_text(self) -> str:
        return canonical_json(self.model_dump(mode="json", exclude={"context"}))


class Usage(BaseModel):
    """Normalized token usage. `input_tokens` excludes cached reads on every provider."""

    model_config = ConfigDict(extra="forbid")

    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cache_hits: int = 0  # responses served from envsim's response cache (no request made)
    retries: int = 0  # network/server errors retried by the model layer before a reply came
    validation_retries: int = 0  # re-asks after a reply that did not parse or validate
    batch_requests: int = 0  # requests answered through a batch API (priced at the batch discount)
    cost_usd: float | None = None  # None = unknown model price; never a made-up figure

    def __add__(self, other: Usage) -> Usage:
        cost: float | None
        if self.cost_usd is None and other.cost_usd is None:
            cost = None
        else:
            cost = (self.cost_usd or 0.0) + (other.cost_usd or 0.0)
        return Usage(
            requests=self.requests + other.requests,
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cache_read_tokens=self.cache_read_tokens + other.cache_read_tokens,
            cache_write_tokens=self.cache_write_tokens + other.cache_write_tokens,
            cache_hits=self.cache_hits + other.cache_hits,
            retries=self.retries + other.retries,
            validation_retries=self.validation_retries + other.validation_retries,
            batch_requests=self.batch_requests + other.batch_requests,
            cost_usd=cost,
        )

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens + self.cache_read_tokens + self.cache_write_tokens


FinishReason = Literal["stop", "tool_calls", "length", "content_filter", "error"] | str


class ModelCallRecord(BaseModel):
    """How one `generate` call went through the retry policy; stored with the response for the recorder."""

    model_config = ConfigDict(extra="forbid")

    attempts: int = 1
    errors: list[str] = Field(default_factory=list)  # one line per failed attempt, in order
    waited_s: float = 0.0  # seconds spent in backoff / Retry-After waits (not in requests)


class ModelResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: Message
    finish_reason: FinishReason | None = None
    usage: Usage = Field(default_factory=Usage)
    model: str = ""
    cached: bool = False
    raw: dict[str, Any] | None = None  # provider payload, for the recorder
    call: ModelCallRecord | None = None  # retries behind this response (set by the retry policy)
    # On response-cache hits: the usage of the original call, i.e. what the hit saved (`usage` is then zero).
    saved_usage: Usage | None = None

    @property
    def text(self) -> str:
        return self.message.content or ""


class ChatModel(abc.ABC):
    """Every model, real or scripted. Implementations must be safe to call concurrently."""

    #: "provider:model[@base_url]", e.g. "openai:gpt-4o-mini"; used in cache keys and usage.
    name: str = "model"

    @abc.abstractmethod
    async def generate(self, request: ModelRequest) -> ModelResponse: ...

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections. Default: nothing to release."""

    def preload(self) -> None:  # noqa: B027 - optional hook
        """Import what the first request needs (an SDK, its transport), so worker processes forked
        afterwards inherit it instead of each importing it. Default: nothing to import."""


class ModelWrapper(ChatModel):
    """A ChatModel that adds one policy (retry, limits, cache, usage, ...) around another; they compose."""

    def __init__(self, inner: ChatModel) -> None:
        self.inner = inner
        self.name = inner.name

    async def aclose(self) -> None:
        await self.inner.aclose()

    def preload(self) -> None:
        self.inner.preload()

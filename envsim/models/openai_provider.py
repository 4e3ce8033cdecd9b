"""OpenAI Chat Completions, and every OpenAI-compatible server (vLLM, SGLang, Ollama, LM Studio, llama.cpp).

This module converts requests and replies; `envsim.models.openai_transport` carries them. The SDK is
imported on first use so `import envsim` stays light. Nothing here retries: retries, limits and backoff
belong to the wrappers built on top of this model, which rely on the envsim errors raised here (see
`envsim.models.http_errors`).
"""

from __future__ import annotations

import json
import logging
import os
import re
from typing import Any
from urllib.parse import urlparse

from envsim.errors import ConfigError, ModelError
from envsim.messages import FunctionCall, Message, ToolCall
from envsim.models.base import ChatModel, ModelRequest, ModelResponse, Usage
from envsim.models.client_shards import DEFAULT_MAX_SHARDS, ClientShards
from envsim.models.http_errors import malformed_reply_error, missing_key_error
from envsim.models.openai_transport import (
    TRANSPORTS,
    ChatTransport,
    Endpoint,
    Transport,
    aiohttp_transport,
    new_transport,
)
from envsim.models.profiles import ModelProfile, profile_for
from envsim.models.tls import shared_ssl_context
from envsim.redaction import register_secret

log = logging.getLogger(__name__)

OPENAI_BASE_URL = "https://api.openai.com/v1"
# Compatible servers usually ignore the key, but the SDK insists on having one.
PLACEHOLDER_KEY = "not-needed"
DEFAULT_TIMEOUT = 300.0

# Keywords OpenAI's strict structured-output mode rejects; such schemas are sent non-strict.
_STRICT_UNSUPPORTED = {"patternProperties", "if", "then", "else", "not", "dependentRequired", "dependentSchemas"}


def is_official_openai(base_url: str | None) -> bool:
    if not base_url:
        return True
    host = urlparse(base_url).hostname or ""
    return host == "api.openai.com" or host.endswith(".openai.com")


class OpenAIChatModel(ChatModel):
    """Chat Completions of the official API or an OpenAI-compatible server (`base_url`; for such a server a
    missing API key is fine: a placeholder is sent). `transport` says how requests travel (see
    `envsim.models.openai_transport`): "direct" (aiohttp with the SDK's URL and headers, the default) or
    "sdk" (each request through the SDK's client)."""

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        api_key: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_connections: int = 1000,
        transport: Transport = "direct",
    ) -> None:
        if transport not in TRANSPORTS:
            raise ConfigError(f"unknown transport {transport!r}", hint=f"use one of: {', '.join(TRANSPORTS)}")
        self.model = model
        self.base_url = base_url
        self.official = is_official_openai(base_url)
        self.endpoint = f"openai:{model}@{base_url or OPENAI_BASE_URL}"
        self.name = f"openai:{model}" + (f"@{base_url}" if base_url else "")
        self.api_key_env = api_key_env
        self.timeout = timeout
        self.max_connections = max_connections
        self.transport: Transport = transport
        self.profile: ModelProfile = profile_for("openai", model, official_endpoint=self.official)
        key = api_key or os.environ.get(api_key_env)
        register_secret(key)  # whatever its source, the key is redacted from every output
        if not key:
            if self.official:
                raise missing_key_error(self.endpoint, api_key_env)
            key = PLACEHOLDER_KEY
        self._target = Endpoint(
            base_url=base_url or OPENAI_BASE_URL,
            api_key=key,
            api_key_env=api_key_env,
            name=self.endpoint,
            timeout=timeout,
        )
        # aiohttp's connection pool stays cheap with many connections: one client is enough. httpx's
        # pool does not (see ClientShards), so without aiohttp requests are spread over several clients.
        shards = 1 if transport == "direct" or aiohttp_transport() else DEFAULT_MAX_SHARDS
        self._shards: ClientShards[ChatTransport] = ClientShards(
            self._new_transport, _close_transport, max_connections=max_connections, max_shards=shards
        )
        self._warned: set[str] = set()

    def __repr__(self) -> str:  # never show the key
        return f"OpenAIChatModel({self.name!r})"

    def _new_transport(self, max_connections: int) -> ChatTransport:
        return new_transport(self.transport, self._target, max_connections)

    async def aclose(self) -> None:
        await self._shards.aclose()

    def preload(self) -> None:
        import openai  # noqa: F401

        if self.transport == "direct":
            import aiohttp  # noqa: F401
        else:
            aiohttp_transport()
        if self._target.uses_tls or self.transport == "sdk":
            shared_ssl_context()

    async def generate(self, request: ModelRequest) -> ModelResponse:
        body = _encode(self.build_params(request))
        transport, ticket = self._shards.acquire()
        try:
            content = await transport.send(body)
        finally:
            self._shards.release(ticket)
        return self.parse_completion(self._reply_json(content))

    def _reply_json(self, content: bytes) -> dict[str, Any]:
        try:
            payload = json.loads(content)
        except ValueError as exc:  # a non-JSON or truncated body
            raise malformed_reply_error(self.endpoint, f"{exc}; got {_preview(content)}") from None
        if not isinstance(payload, dict) or not isinstance(payload.get("choices"), list):
            raise malformed_reply_error(self.endpoint, f"got {_preview(content)}")
        return payload

    # ------------------------------------------------------------------ request conversion

    def build_params(self, request: ModelRequest) -> dict[str, Any]:
        """The keyword arguments for `chat.completions.create`."""
        params: dict[str, Any] = {
            "model": self.model,
            "messages": [m.to_openai() for m in request.messages],
        }
        if request.tools:
            params["tools"] = [t.to_openai() for t in request.tools]
            if request.tool_choice is not None:
                params["tool_choice"] = self._tool_choice(request)
            if request.parallel_tool_calls is not None and self.profile.supports_parallel_tool_calls:
                params["parallel_tool_calls"] = request.parallel_tool_calls
        elif request.tool_choice not in (None, "auto", "none"):
            raise ModelError(
                f"{self.endpoint}: tool_choice={request.tool_choice!r} but the request offers no tools",
                endpoint=self.endpoint,
            )
        if request.response_schema is not None and self.profile.supports_json_schema:
            params["response_format"] = {
                "type": "json_schema",
                "json_schema": {
                    "name": schema_name(request.response_schema_name),
                    "schema": request.response_schema,
                    "strict": strict_compatible(request.response_schema),
                },
            }
        p = request.params
        if self.profile.supports_sampling_params:
            if p.temperature is not None:
                params["temperature"] = p.temperature
            if p.top_p is not None:
                params["top_p"] = p.top_p
        elif p.temperature is not None or p.top_p is not None:
            self._warn_once("sampling", f"{self.name} does not accept temperature/top_p; they are not sent")
        if p.max_tokens is not None:
            params[self.profile.max_tokens_param] = p.max_tokens
        if p.seed is not None:
            params["seed"] = p.seed
        if p.stop:
            params["stop"] = p.stop
        return params

    def _tool_choice(self, request: ModelRequest) -> Any:
        choice = request.tool_choice
        if choice in ("auto", "none", "required"):
            return choice
        names = [t.name for t in request.tools]
        if choice not in names:
            raise ModelError(
                f"{self.endpoint}: tool_choice names tool {choice!r}, which the request does not offer "
                f"(offered: {', '.join(names)})",
                endpoint=self.endpoint,
            )
        return {"type": "function", "function": {"name": choice}}

    def _warn_once(self, key: str, text: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning(text)

    # ------------------------------------------------------------------ reply conversion

    def parse_completion(self, payload: dict[str, Any]) -> ModelResponse:
        """A Chat Completions reply (its JSON, as sent) -> ModelResponse; `raw` is that JSON."""
        choices = payload["choices"]
        if not choices:
            raise malformed_reply_error(self.endpoint, "reply has no choices")
        choice = choices[0]
        msg = choice.get("message") if isinstance(choice, dict) else None
        if not isinstance(msg, dict):
            raise malformed_reply_error(self.endpoint, "the reply's first choice has no message")
        try:
            calls = [
                ToolCall(id=c["id"], function=FunctionCall(name=fn["name"], arguments=fn.get("arguments") or "{}"))
                for c in msg.get("tool_calls") or ()
                if (fn := c.get("function")) is not None
            ]
            content = msg.get("content")
            message = Message(
                role="assistant",
                content=content if content is not None else msg.get("refusal"),
                tool_calls=calls or None,
                # vLLM / DeepSeek / llama.cpp servers return the thinking apart from the answer
                reasoning=msg.get("reasoning_content") or msg.get("reasoning") or None,
            )
            usage = normalized_usage(payload.get("usage"))
        except (KeyError, TypeError, AttributeError, ValueError) as exc:  # ValueError: pydantic's
            raise malformed_reply_error(self.endpoint, f"unexpected reply shape: {exc}") from None
        return ModelResponse(
            message=message,
            finish_reason=choice.get("finish_reason"),
            usage=usage,
            model=payload.get("model") or self.model,
            raw=payload,
        )


def normalized_usage(usage: dict[str, Any] | None) -> Usage:
    """OpenAI's prompt_tokens include cached tokens; envsim's input_tokens do not."""
    if not usage:
        return Usage(requests=1)
    details = usage.get("prompt_tokens_details")
    cached = (details.get("cached_tokens") or 0) if details else 0
    prompt = usage.get("prompt_tokens") or 0
    return Usage(
        requests=1,
        input_tokens=max(0, prompt - cached),
        output_tokens=usage.get("completion_tokens") or 0,
        cache_read_tokens=cached,
    )


def schema_name(name: str) -> str:
    """OpenAI requires ^[a-zA-Z0-9_-]{1,64}$ for a response format name."""
    cleaned = re.sub(r"[^a-zA-Z0-9_-]", "_", name)[:64]
    return cleaned or "response"


def strict_compatible(schema: Any) -> bool:
    """True when OpenAI's strict mode accepts the schema: every object closes its properties
    (`additionalProperties: false`) and requires all of them, and no unsupported keyword appears."""
    if isinstance(schema, list):
        return all(strict_compatible(s) for s in schema)
    if not isinstance(schema, dict):
        return True
    if _STRICT_UNSUPPORTED & schema.keys():
        return False
    is_object = schema.get("type") == "object" or "properties" in schema
    if is_object:
        props = schema.get("properties", {})
        if schema.get("additionalProperties") is not False:
            return False
        if set(schema.get("required", [])) != set(props):
            return False
    for key, value in schema.items():
        if key in ("properties", "$defs", "definitions"):
            if not all(strict_compatible(v) for v in value.values()):
                return False
        elif key in ("items", "anyOf", "allOf", "prefixItems") and not strict_compatible(value):
            return False
    return True


def _preview(content: bytes) -> str:
    return repr(content[:120].decode("utf-8", "replace"))


def _encode(params: dict[str, Any]) -> bytes:
    """The request body, encoded as the SDK encodes JSON bodies."""
    return json.dumps(params, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


async def _close_transport(transport: ChatTransport) -> None:
    await transport.aclose()

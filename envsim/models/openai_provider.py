"""OpenAI Chat Completions, and every OpenAI-compatible server (vLLM, SGLang, Ollama, LM Studio, llama.cpp).

This module converts requests and replies; `envsim.models.openai_transport` carries them. The SDK is
imported on first use so `import envsim` stays light. Nothing here retries: retries, limits and backoff
belong to the wrappers built on top of this model, which rely on the envsim errors raised here (see
`envsim.models.http_errors`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
from typing import Any
from urllib.parse import urlparse

from envsim.errors import ConfigError, ModelError, RequestRefusedError
from envsim.messages import FunctionCall, Message, ToolCall
from envsim.models.base import ChatModel, GenerationParams, ModelRequest, ModelResponse, Usage
from envsim.models.client_shards import DEFAULT_MAX_SHARDS, ClientShards
from envsim.models.endpoint_capabilities import EndpointCapabilities, EndpointSettings, feature_of
from envsim.models.endpoint_profiles import PROFILES, detect_server, profile_named
from envsim.models.http_errors import malformed_reply_error, missing_key_error
from envsim.models.json_schema_refs import inline_refs
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
from envsim.models.tool_arguments import repair_arguments
from envsim.redaction import register_secret

log = logging.getLogger(__name__)

OPENAI_BASE_URL = "https://api.openai.com/v1"
# Compatible servers usually ignore the key, but the SDK insists on having one.
PLACEHOLDER_KEY = "not-needed"
DEFAULT_TIMEOUT = 300.0
DETECT_TIMEOUT = 5.0  # seconds for the one `GET models` that tells which server this is
_MAX_FALLBACKS = 4  # refusals answered by a fallback within one request (one per feature at most)

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
        settings: EndpointSettings | None = None,
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
        settings = settings or EndpointSettings()
        if settings.server is not None:
            server = settings.server
        elif self.official:
            server = "openai"
        else:
            server = "generic"
        self.capabilities = EndpointCapabilities(self.endpoint, profile_named(server), settings)
        # A compatible server without a configured `server` is asked once which server it is.
        self._detect = settings.server is None and not self.official
        self._detecting: asyncio.Future[None] | None = None

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
        if self._detect:
            await self._detect_server()
        for refused in range(_MAX_FALLBACKS):
            body = _encode(self.build_params(request))
            transport, ticket = self._shards.acquire()
            try:
                content = await transport.send(body)
            except RequestRefusedError as exc:
                if self.capabilities.fall_back(exc.param):
                    continue  # asked differently at once: the endpoint is fine, the request was not
                error = self._refusal(exc)
                error.attempts = refused + 1  # every refused request went out (usage counts them)
                raise error from None
            finally:
                self._shards.release(ticket)
            response = self.parse_completion(self._reply_json(content))
            response.usage.requests += refused  # the refused requests before this one
            if self._needs_text_reask(request, response):
                return await self._reask_for_text(request, response)
            return response
        raise ModelError(f"{self.endpoint} kept refusing request parameters", endpoint=self.endpoint)

    def _needs_text_reask(self, request: ModelRequest, response: ModelResponse) -> bool:
        """An empty reply to a request offering tools, from a server that cannot write text then."""
        if self.capabilities.profile.text_with_tools or not request.tools:
            return False
        if request.tool_choice not in (None, "auto"):
            return False
        return not response.message.tool_calls and not (response.message.content or "").strip()

    async def _reask_for_text(self, request: ModelRequest, first: ModelResponse) -> ModelResponse:
        self._warn_once(
            "text_with_tools",
            f"{self.endpoint} cannot answer in text while tools are offered; empty replies are asked again "
            "with tool_choice none (see docs/servers.md)",
        )
        second = await self.generate(request.model_copy(update={"tool_choice": "none"}))
        second.usage = second.usage + first.usage  # both requests were made, both are paid for
        return second

    async def _detect_server(self) -> None:
        """Pick the profile of the server behind `base_url` from its `GET models` reply, once (concurrent
        first requests wait for the same answer); a server that does not say keeps `generic`."""
        if self._detecting is not None:
            await asyncio.shield(self._detecting)
            return
        self._detecting = done = asyncio.get_running_loop().create_future()
        server = None
        transport, ticket = self._shards.acquire()
        try:
            payload, headers = await transport.server_info(min(DETECT_TIMEOUT, self.timeout))
            server = detect_server(payload, headers)
        except Exception as exc:  # detection is a courtesy: any failure means "unknown server"
            log.debug("%s: could not tell which server this is (%s)", self.endpoint, exc)
        finally:
            self._shards.release(ticket)
            self._detect = False
            done.set_result(None)  # also when cancelled: nobody waits for an answer that never comes
        if server is not None and server != self.capabilities.profile.server:
            self.capabilities.use_profile(PROFILES[server])
            log.info("%s: detected a %s server; using its profile (docs/servers.md)", self.endpoint, server)

    def _refusal(self, exc: RequestRefusedError) -> RequestRefusedError:
        """The run-stopping error for a refusal no fallback can answer: which parameter, which config key."""
        where = self.capabilities.settings.location
        feature = feature_of(exc.param)
        if feature == "structured_output":
            now = self.capabilities.structured_output
            fix = f"set {where}.structured_output to one this server accepts (now {now}): json_object or prompt"
        elif feature == "tool_call_content":
            fix = (
                "a message shape this server refuses; if it is a tool-call-only assistant message, set "
                f"{where}.features.tool_call_content (null or empty) for this server's chat template"
            )
        elif feature is not None:
            fix = f"set {where}.features.{_FEATURE_KEYS[feature]} so envsim does not send it"
        else:
            fix = f"this request parameter comes from envsim's request; see docs/servers.md for {where} keys"
        refused = RequestRefusedError(exc.message, param=exc.param, status=exc.status, endpoint=exc.endpoint, hint=fix)
        return refused

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
        caps = self.capabilities
        params: dict[str, Any] = {
            "model": self.model,
            "messages": [self._wire_message(m) for m in request.messages],
        }
        if request.tools:
            params["tools"] = [t.to_openai() for t in request.tools]
            choice = request.tool_choice
            if choice is None and caps.profile.explicit_tool_choice:
                choice = "auto"  # this server offers the tools to the model only when told to
            if choice is not None:
                params["tool_choice"] = self._tool_choice(request, choice)
            wants_parallel = request.parallel_tool_calls is not None
            if wants_parallel and self.profile.supports_parallel_tool_calls and caps.profile.parallel_tool_calls:
                params["parallel_tool_calls"] = request.parallel_tool_calls
        elif request.tool_choice not in (None, "auto", "none"):
            raise ModelError(
                f"{self.endpoint}: tool_choice={request.tool_choice!r} but the request offers no tools",
                endpoint=self.endpoint,
            )
        if request.response_schema is not None:
            self._structured_output(params, request)
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
        if p.seed is not None and caps.profile.seed:
            params["seed"] = p.seed
        if p.stop:
            params["stop"] = p.stop
        self._oumi_sampling(params, p)
        return params

    def _oumi_sampling(self, params: dict[str, Any], p: GenerationParams) -> None:
        """oumi's further sampling keys, as its remote engines send them: the penalties and logit_bias
        where the model takes sampling parameters, vLLM's min_p and stop_token_ids whenever set."""
        penalties = {
            "frequency_penalty": p.frequency_penalty,
            "presence_penalty": p.presence_penalty,
            "logit_bias": p.logit_bias or None,
        }
        given = {k: v for k, v in penalties.items() if v is not None}
        if given and not self.profile.supports_sampling_params:
            self._warn_once("penalties", f"{self.name} does not accept {', '.join(given)}; they are not sent")
        elif given:
            params.update(given)
        if p.min_p:
            params["min_p"] = p.min_p
        if p.stop_token_ids:
            params["stop_token_ids"] = p.stop_token_ids

    def _wire_message(self, message: Message) -> dict[str, Any]:
        """A message as OpenAI's schema has it, in the form most servers' chat templates accept: a
        tool-call-only assistant message carries `content: null` (or "" where the profile says), and no
        envsim-only field (`reasoning`, ...) is ever sent."""
        wire: dict[str, Any] = {"role": message.role, "content": message.content}
        if message.role == "assistant":
            if message.tool_calls:
                wire["tool_calls"] = [
                    c.model_dump(mode="json", include={"id", "type", "function"}) for c in message.tool_calls
                ]
            if message.content is None:
                wire["content"] = None if self.capabilities.profile.tool_call_content == "null" else ""
        elif message.content is None:
            wire["content"] = ""
        if message.tool_call_id is not None:
            wire["tool_call_id"] = message.tool_call_id
        if message.name is not None:
            wire["name"] = message.name
        return wire

    def _structured_output(self, params: dict[str, Any], request: ModelRequest) -> None:
        """Ask for the reply's schema the way this endpoint can enforce it; the schema is in the prompt
        as well (the caller puts it there), so `prompt` sends nothing and replies are validated anyway."""
        schema = request.response_schema
        assert schema is not None
        mechanism = self.capabilities.structured_output
        if mechanism == "json_schema" and not self.profile.supports_json_schema:
            mechanism = "json_object"  # a model family without JSON-schema mode (gpt-4, gpt-3.5)
        wire_schema = inline_refs(schema)  # many servers' grammar compilers cannot follow $ref
        if mechanism == "json_schema":
            params["response_format"] = {
                "type": "json_schema",
                "json_schema": {
                    "name": schema_name(request.response_schema_name),
                    "schema": wire_schema,
                    "strict": strict_compatible(wire_schema),
                },
            }
        elif mechanism == "json_object":
            fmt: dict[str, Any] = {"type": "json_object"}
            if self.capabilities.profile.json_object_schema:
                fmt["schema"] = wire_schema
            params["response_format"] = fmt
        elif mechanism == "guided":
            params["guided_json"] = wire_schema  # vLLM's (and SGLang's) extra request parameter

    def _tool_choice(self, request: ModelRequest, choice: str) -> Any:
        caps = self.capabilities
        if choice == "required" and not caps.tool_choice_allows("required"):
            # The closest this server offers: the one tool when there is one, else let the model choose.
            if len(request.tools) == 1 and caps.tool_choice_allows("function"):
                self._warn_once("required", f"{self.endpoint} does not take tool_choice=required; naming the tool")
                return {"type": "function", "function": {"name": request.tools[0].name}}
            self._warn_once("required", f"{self.endpoint} does not take tool_choice=required; sending auto")
            return "auto"
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
        finish_reason = choice.get("finish_reason")
        try:
            calls: list[ToolCall] = []
            repaired: dict[str, str] = {}
            for c in msg.get("tool_calls") or ():
                fn = c.get("function")
                if fn is None:
                    continue
                arguments = fn.get("arguments") or "{}"
                fixed = repair_arguments(arguments) if finish_reason != "length" else None
                if fixed is not None:
                    repaired[c["id"]] = arguments
                    arguments = fixed
                calls.append(ToolCall(id=c["id"], function=FunctionCall(name=fn["name"], arguments=arguments)))
            content = msg.get("content")
            message = Message(
                role="assistant",
                content=content if content is not None else msg.get("refusal"),
                tool_calls=calls or None,
                # vLLM / DeepSeek / llama.cpp servers return the thinking apart from the answer
                reasoning=msg.get("reasoning_content") or msg.get("reasoning") or None,
                finish_reason="length" if finish_reason == "length" else None,
                repaired_arguments=repaired or None,
            )
            usage = normalized_usage(payload.get("usage"))
        except (KeyError, TypeError, AttributeError, ValueError) as exc:  # ValueError: pydantic's
            raise malformed_reply_error(self.endpoint, f"unexpected reply shape: {exc}") from None
        return ModelResponse(
            message=message,
            finish_reason=finish_reason,
            usage=usage,
            model=payload.get("model") or self.model,
            raw=payload,
        )


_FEATURE_KEYS = {"tool_choice": "tool_choice_modes", "seed": "seed", "parallel_tool_calls": "parallel_tool_calls"}


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

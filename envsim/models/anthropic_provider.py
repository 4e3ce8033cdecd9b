"""Anthropic Messages API over the official `anthropic` SDK.

Wire differences handled here and nowhere else:
- system messages go to the top-level `system` parameter (all of them, in order);
- assistant tool calls become `tool_use` blocks (arguments as objects), tool messages become `tool_result`
  blocks inside a user turn; consecutive same-role turns are merged (the API requires alternation);
- prompt caching: `cache_control: ephemeral` on the last tool and the last system block, the stable prefix,
  and on the last block of `ModelRequest.cache_prefix` messages when the request marks a longer prefix;
- structured output: the native `output_config.format` JSON schema where the model has it, otherwise a tool
  named after the schema is forced and its input comes back as the JSON text of the reply;
- `max_tokens` is required: the model profile supplies a default.

The client never retries (`max_retries=0`); failures become envsim errors (see `envsim.models.http_errors`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
from typing import Any, Literal

from envsim.errors import ModelError
from envsim.messages import FunctionCall, Message, ToolCall
from envsim.models import request_guard
from envsim.models.base import ChatModel, ModelRequest, ModelResponse, Usage
from envsim.models.http_errors import (
    malformed_reply_error,
    missing_key_error,
    sdk_error,
)
from envsim.models.profiles import ModelProfile, profile_for
from envsim.models.tls import shared_ssl_context
from envsim.models.unreachable import CONNECT_TIMEOUT_S
from envsim.redaction import register_secret

log = logging.getLogger(__name__)

ANTHROPIC_BASE_URL = "https://api.anthropic.com"
DEFAULT_TIMEOUT = 300.0
EPHEMERAL = {"type": "ephemeral"}
# Anthropic tool inputs must be objects: a non-object schema is wrapped in this property and unwrapped back.
WRAPPED_KEY = "value"

_STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "refusal": "content_filter",
}


class AnthropicChatModel(ChatModel):
    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key_env: str = "ANTHROPIC_API_KEY",
        api_key: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_connections: int = 1000,
        prompt_caching: bool = True,
        structured_output: Literal["auto", "native", "tool"] = "auto",
    ) -> None:
        self.model = model
        self.base_url = base_url or os.environ.get("ANTHROPIC_BASE_URL") or ANTHROPIC_BASE_URL
        self.endpoint = f"anthropic:{model}@{self.base_url}"
        self.name = f"anthropic:{model}" + (f"@{base_url}" if base_url else "")
        self.api_key_env = api_key_env
        self.timeout = timeout
        self.max_connections = max_connections
        self.prompt_caching = prompt_caching
        # "auto": native output_config where the profile says the model has it, else a forced tool.
        self.structured_output = structured_output
        self.profile: ModelProfile = profile_for("anthropic", model)
        key = api_key or os.environ.get(api_key_env)
        register_secret(key)  # whatever its source, the key is redacted from every output
        if not key:
            raise missing_key_error(self.endpoint, api_key_env)
        self._api_key = key
        self._client: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._warned_sampling = False
        self._warned_unsent = False

    def __repr__(self) -> str:  # never show the key
        return f"AnthropicChatModel({self.name!r})"

    def _get_client(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            request_guard.ensure_model_requests_allowed(self.base_url, self.endpoint)
            import anthropic
            import httpx2

            limits = httpx2.Limits(max_connections=self.max_connections, max_keepalive_connections=self.max_connections)
            self._client = anthropic.AsyncAnthropic(
                api_key=self._api_key,
                base_url=self.base_url,
                max_retries=0,
                timeout=httpx2.Timeout(self.timeout, connect=CONNECT_TIMEOUT_S),
                http_client=anthropic.DefaultAsyncHttpxClient(
                    limits=limits,
                    timeout=httpx2.Timeout(self.timeout, connect=CONNECT_TIMEOUT_S),
                    verify=shared_ssl_context(),
                ),
            )
            self._loop = loop
        return self._client

    def preload(self) -> None:
        import anthropic  # noqa: F401

        shared_ssl_context()

    async def aclose(self) -> None:
        if self._client is not None and self._loop is asyncio.get_running_loop():
            await self._client.close()
        self._client = None

    async def generate(self, request: ModelRequest) -> ModelResponse:
        params, forced_schema_tool = self.build_params(request)
        reply = await self._call(self._get_client(), params)
        return self.parse_message(reply, forced_schema_tool=forced_schema_tool, request=request)

    async def _call(self, client: Any, params: dict[str, Any]) -> Any:
        import anthropic

        try:
            reply = await client.messages.create(**params)
        except ValueError as exc:  # json.JSONDecodeError: the body claimed JSON but was not
            raise malformed_reply_error(self.endpoint, str(exc)) from None
        except anthropic.AnthropicError as exc:
            raise sdk_error(
                exc, anthropic, endpoint=self.endpoint, api_key_env=self.api_key_env, secrets=[self._api_key]
            ) from None
        if not hasattr(reply, "content"):  # the SDK returns the text of a non-JSON reply as is
            raise malformed_reply_error(self.endpoint, f"got {str(reply)[:120]!r}")
        return reply

    # ------------------------------------------------------------------ request conversion

    def build_params(self, request: ModelRequest) -> tuple[dict[str, Any], str | None]:
        """Keyword arguments for `messages.create`, and the name of the tool standing in for a
        response schema (None when the native structured output is used or no schema is asked for)."""
        cache_through = request.cache_prefix if self.prompt_caching else None
        system, messages = convert_messages(request.messages, cache_through=cache_through)
        p = request.params
        params: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "max_tokens": p.max_tokens or self.profile.default_max_tokens or 4096,
        }
        if system:
            if self.prompt_caching:
                system[-1]["cache_control"] = EPHEMERAL
            params["system"] = system
        tools = [{"name": t.name, "description": t.description, "input_schema": t.parameters} for t in request.tools]
        tool_choice = self._tool_choice(request) if request.tools else None
        forced: str | None = None
        if request.response_schema is not None:
            native = self.profile.supports_json_schema if self.structured_output == "auto" else None
            if native or self.structured_output == "native":
                params["output_config"] = {"format": {"type": "json_schema", "schema": request.response_schema}}
            else:
                forced = tool_name(request.response_schema_name)
                tools.append(
                    {
                        "name": forced,
                        "description": "Give your final answer by calling this tool with it as input.",
                        "input_schema": object_schema(request.response_schema),
                    }
                )
                tool_choice = {"type": "tool", "name": forced}
        if tools:
            if self.prompt_caching:
                tools[-1]["cache_control"] = EPHEMERAL
            params["tools"] = tools
            if tool_choice is not None:
                params["tool_choice"] = tool_choice
        sampling = self._sampling_params(request)
        if sampling:
            # The SDK (1.x+) dropped these keywords; the API still takes them on models that sample.
            params["extra_body"] = sampling
        if p.stop:
            params["stop_sequences"] = p.stop
        unsent = [
            k
            for k in ("frequency_penalty", "presence_penalty", "logit_bias", "min_p", "stop_token_ids")
            if getattr(p, k)
        ]
        if unsent and not self._warned_unsent:
            self._warned_unsent = True  # oumi's Anthropic engine ignores them too
            log.warning("%s: the Messages API has no %s; not sent", self.name, ", ".join(unsent))
        return params, forced

    def _sampling_params(self, request: ModelRequest) -> dict[str, float]:
        p = request.params
        if p.temperature is None and p.top_p is None:
            return {}
        if not self.profile.supports_sampling_params:
            if not self._warned_sampling:
                self._warned_sampling = True
                log.warning("%s does not accept temperature/top_p; they are not sent", self.name)
            return {}
        sampling: dict[str, float] = {}
        if p.temperature is not None:
            sampling["temperature"] = p.temperature
        # Claude 4+ models refuse temperature and top_p together; temperature wins.
        if p.top_p is not None and (p.temperature is None or self.profile.family == "claude-3"):
            sampling["top_p"] = p.top_p
        return sampling

    def _tool_choice(self, request: ModelRequest) -> dict[str, Any] | None:
        choice = request.tool_choice
        no_parallel = request.parallel_tool_calls is False
        if choice == "none":
            return {"type": "none"}
        if choice is None or choice == "auto":
            return {"type": "auto", "disable_parallel_tool_use": True} if no_parallel else None
        if choice == "required":
            result: dict[str, Any] = {"type": "any"}
        else:
            names = [t.name for t in request.tools]
            if choice not in names:
                raise ModelError(
                    f"{self.endpoint}: tool_choice names tool {choice!r}, which the request does not offer "
                    f"(offered: {', '.join(names)})",
                    endpoint=self.endpoint,
                )
            result = {"type": "tool", "name": choice}
        if no_parallel:
            result["disable_parallel_tool_use"] = True
        return result

    # ------------------------------------------------------------------ reply conversion

    def parse_message(
        self, reply: Any, *, forced_schema_tool: str | None = None, request: ModelRequest | None = None
    ) -> ModelResponse:
        texts: list[str] = []
        calls: list[ToolCall] = []
        structured: str | None = None
        thoughts: list[str] = []
        for block in reply.content or []:
            kind = getattr(block, "type", None)
            if kind == "text":
                texts.append(block.text)
            elif kind == "thinking":  # extended thinking: kept apart from the answer (Message.reasoning)
                thoughts.append(block.thinking)
            elif kind == "tool_use":
                if forced_schema_tool is not None and block.name == forced_schema_tool:
                    structured = json.dumps(unwrap_input(block.input, request), ensure_ascii=False)
                    continue
                arguments = json.dumps(block.input, ensure_ascii=False)
                calls.append(ToolCall(id=block.id, function=FunctionCall(name=block.name, arguments=arguments)))
        content = structured if structured is not None else ("".join(texts) if texts else None)
        finish = _STOP_REASONS.get(reply.stop_reason or "", reply.stop_reason)
        if structured is not None and not calls:
            finish = "stop"
        return ModelResponse(
            message=Message(
                role="assistant", content=content, tool_calls=calls or None, reasoning="".join(thoughts) or None
            ),
            finish_reason=finish,
            usage=normalized_usage(reply.usage),
            model=reply.model or self.model,
            raw=reply.model_dump(mode="json", exclude_unset=True),
        )


def convert_messages(
    messages: list[Message], *, cache_through: int | None = None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Canonical messages -> (system blocks, alternating user/assistant turns of content blocks).

    `cache_through`: the first n messages are a cacheable prefix; when the last of them is not a system
    message (system blocks get their breakpoint from the caller), its last block gets `cache_control`."""
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    for index, m in enumerate(messages):
        if m.role == "system":
            if m.content:
                system.append({"type": "text", "text": m.content})
            continue
        role = "assistant" if m.role == "assistant" else "user"
        blocks = _blocks(m)
        if not blocks:
            continue
        if cache_through is not None and index == cache_through - 1:
            blocks[-1]["cache_control"] = EPHEMERAL
        if turns and turns[-1]["role"] == role:
            merged = turns[-1]["content"] + blocks
            # tool_result blocks must lead a user turn.
            merged.sort(key=lambda b: b["type"] != "tool_result")
            turns[-1]["content"] = merged
        else:
            turns.append({"role": role, "content": blocks})
    if turns and turns[0]["role"] == "assistant":
        # The API wants the conversation to open with a user turn (a user simulator's view starts with
        # the assistant's greeting).
        turns.insert(0, {"role": "user", "content": [{"type": "text", "text": "(conversation start)"}]})
    return system, turns


def _blocks(m: Message) -> list[dict[str, Any]]:
    if m.role == "tool":
        return [{"type": "tool_result", "tool_use_id": m.tool_call_id or "", "content": m.content or ""}]
    blocks: list[dict[str, Any]] = []
    if m.content:  # the API refuses empty text blocks
        blocks.append({"type": "text", "text": m.content})
    for call in m.tool_calls or []:
        blocks.append({"type": "tool_use", "id": call.id, "name": call.name, "input": tool_input(call)})
    return blocks


def tool_input(call: ToolCall) -> dict[str, Any]:
    """Anthropic wants arguments as an object; a malformed argument string is kept under `_raw` so the
    conversation (which already told the model its call failed) can still be replayed."""
    try:
        return call.parsed_arguments()
    except ValueError:
        return {"_raw": call.function.arguments}


def tool_name(name: str) -> str:
    cleaned = re.sub(r"[^a-zA-Z0-9_-]", "_", name)[:64]
    return cleaned or "response"


def object_schema(schema: dict[str, Any]) -> dict[str, Any]:
    if schema.get("type") == "object" or ("properties" in schema and "type" not in schema):
        return schema
    return {"type": "object", "properties": {WRAPPED_KEY: schema}, "required": [WRAPPED_KEY]}


def unwrap_input(value: Any, request: ModelRequest | None) -> Any:
    schema = request.response_schema if request is not None else None
    if schema is not None and object_schema(schema) is not schema and isinstance(value, dict):
        return value.get(WRAPPED_KEY)
    return value


def normalized_usage(usage: Any) -> Usage:
    """Anthropic's input_tokens already exclude cache reads and writes."""
    if usage is None:
        return Usage(requests=1)
    return Usage(
        requests=1,
        input_tokens=usage.input_tokens or 0,
        output_tokens=usage.output_tokens or 0,
        cache_read_tokens=getattr(usage, "cache_read_input_tokens", None) or 0,
        cache_write_tokens=getattr(usage, "cache_creation_input_tokens", None) or 0,
    )

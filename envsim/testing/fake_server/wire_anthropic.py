"""Anthropic Messages wire format <-> envsim's canonical request and response."""

from __future__ import annotations

import json
from typing import Any

from envsim.messages import FunctionCall, Message, ToolCall, ToolSpec
from envsim.models.base import GenerationParams, ModelRequest, ModelResponse
from envsim.testing.fake_server.wire_openai import WireError

_STOP_REASONS = {"tool_calls": "tool_use", "length": "max_tokens", "content_filter": "refusal"}


def parse_request(body: dict[str, Any]) -> ModelRequest:
    if not isinstance(body.get("model"), str):
        raise WireError("model: Field required")
    if not isinstance(body.get("max_tokens"), int):
        raise WireError("max_tokens: Field required")
    raw_messages = body.get("messages")
    if not isinstance(raw_messages, list) or not raw_messages:
        raise WireError("messages: at least one message is required")
    messages = [Message.system(text) for text in _system_texts(body.get("system"))]
    for i, m in enumerate(raw_messages):
        messages.extend(_turn(m, i))
    tools = [_tool(t, i) for i, t in enumerate(body.get("tools") or []) if "input_schema" in t]
    tool_choice, parallel = _tool_choice(body.get("tool_choice"))
    fmt = (body.get("output_config") or {}).get("format") or {}
    schema = fmt.get("schema") if fmt.get("type") == "json_schema" else None
    params = GenerationParams(
        temperature=body.get("temperature"),
        top_p=body.get("top_p"),
        max_tokens=body["max_tokens"],
        stop=body.get("stop_sequences"),
    )
    return ModelRequest(
        messages=messages,
        tools=tools,
        tool_choice=tool_choice,
        parallel_tool_calls=parallel,
        response_schema=schema,
        params=params,
    )


def _system_texts(system: Any) -> list[str]:
    if system is None:
        return []
    if isinstance(system, str):
        return [system]
    if isinstance(system, list):
        return [b.get("text", "") for b in system if isinstance(b, dict) and b.get("type") == "text"]
    raise WireError("system: must be a string or an array of text blocks")


def _turn(m: Any, i: int) -> list[Message]:
    if not isinstance(m, dict) or m.get("role") not in ("user", "assistant"):
        raise WireError(f"messages.{i}.role: must be user or assistant")
    content = m.get("content")
    blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
    if not isinstance(blocks, list):
        raise WireError(f"messages.{i}.content: must be a string or an array of blocks")
    texts = [b.get("text", "") for b in blocks if b.get("type") == "text"]
    if m["role"] == "assistant":
        calls = [
            ToolCall(id=b["id"], function=FunctionCall(name=b["name"], arguments=json.dumps(b.get("input", {}))))
            for b in blocks
            if b.get("type") == "tool_use"
        ]
        return [Message.assistant("".join(texts) or None, calls or None)]
    out = [
        Message.tool(b.get("tool_use_id", ""), _result_text(b.get("content")))
        for b in blocks
        if b.get("type") == "tool_result"
    ]
    if texts:
        out.append(Message.user("".join(texts)))
    return out


def _result_text(content: Any) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    return "".join(b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text")


def _tool(t: dict[str, Any], i: int) -> ToolSpec:
    if not isinstance(t.get("name"), str):
        raise WireError(f"tools.{i}.name: Field required")
    return ToolSpec(name=t["name"], description=t.get("description") or "", parameters=t["input_schema"])


def _tool_choice(choice: Any) -> tuple[str | None, bool | None]:
    if choice is None:
        return None, None
    kind = choice.get("type")
    parallel = False if choice.get("disable_parallel_tool_use") else None
    if kind == "auto":
        return "auto", parallel
    if kind == "any":
        return "required", parallel
    if kind == "none":
        return "none", parallel
    if kind == "tool":
        return choice.get("name"), parallel
    raise WireError("tool_choice.type: must be auto, any, tool or none")


def forced_tool(body: dict[str, Any]) -> str | None:
    choice = body.get("tool_choice") or {}
    return choice.get("name") if choice.get("type") == "tool" else None


def render_response(
    response: ModelResponse, *, model: str, index: int, forced: str | None = None, bad_tool_args: bool = False
) -> dict[str, Any]:
    message = response.message
    content: list[dict[str, Any]] = []
    calls = list(message.tool_calls or [])
    text = message.content
    if forced and not calls and text:
        # A forced tool always yields a tool_use block: a handler that answered with JSON text gets it wrapped.
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = None
        if isinstance(value, dict):
            calls = [ToolCall.make(forced, value, id=f"toolu_fake{index:08d}")]
            text = None
    if text:
        content.append({"type": "text", "text": text})
    for c in calls:
        args = c.function.arguments
        tool_input: Any
        if bad_tool_args:
            tool_input = args[: max(1, len(args) // 2)]  # a string, not an object: broken arguments
        else:
            try:
                tool_input = json.loads(args or "{}")
            except json.JSONDecodeError:
                tool_input = args
        content.append({"type": "tool_use", "id": c.id, "name": c.function.name, "input": tool_input})
    finish = response.finish_reason or ("tool_calls" if calls else "stop")
    if calls:
        finish = "tool_calls"
    usage = response.usage
    return {
        "id": f"msg_fake{index:08d}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": _STOP_REASONS.get(finish, "end_turn"),
        "stop_sequence": None,
        "usage": {
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "cache_read_input_tokens": usage.cache_read_tokens,
            "cache_creation_input_tokens": usage.cache_write_tokens,
        },
    }


_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


def error_body(status: int, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": _ERROR_TYPES.get(status, "api_error"), "message": message}}


def cached_prefix(body: dict[str, Any]) -> Any | None:
    """The part of the request marked for prompt caching (tools and system up to the last cache_control),
    or None when nothing is marked."""
    tools = body.get("tools") or []
    system = body.get("system")
    system_blocks = system if isinstance(system, list) else []
    marked = any("cache_control" in t for t in tools) or any(
        isinstance(b, dict) and "cache_control" in b for b in system_blocks
    )
    return {"tools": tools, "system": system} if marked else None

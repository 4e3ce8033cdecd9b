"""OpenAI Chat Completions wire format <-> envsim's canonical request and response."""

from __future__ import annotations

import json
import time
from typing import Any

from envsim.models.base import ModelRequest, ModelResponse


class WireError(ValueError):
    """The request body is not a valid request of this wire format (answered with HTTP 400)."""


def parse_request(body: dict[str, Any]) -> ModelRequest:
    raw_messages = body.get("messages")
    if not isinstance(raw_messages, list) or not raw_messages:
        raise WireError("'messages' must be a non-empty array")
    if not isinstance(body.get("model"), str):
        raise WireError("'model' is required")
    schema, schema_name = _response_format(body.get("response_format"))
    stop = body.get("stop")
    # Plain data validated in one `model_validate` call (pydantic-core walks it natively): building a
    # `Message` per message cost the server more CPU than everything else it does per request.
    return ModelRequest.model_validate(
        {
            "messages": [_message(m, i) for i, m in enumerate(raw_messages)],
            "tools": [_tool(t, i) for i, t in enumerate(body.get("tools") or [])],
            "tool_choice": _tool_choice(body.get("tool_choice")),
            "parallel_tool_calls": body.get("parallel_tool_calls"),
            "response_schema": schema,
            "response_schema_name": schema_name or "response",
            "params": {
                "temperature": body.get("temperature"),
                "top_p": body.get("top_p"),
                "max_tokens": body.get("max_completion_tokens") or body.get("max_tokens"),
                "seed": body.get("seed"),
                "stop": [stop] if isinstance(stop, str) else stop,
            },
        }
    )


def _message(m: Any, i: int) -> dict[str, Any]:
    if not isinstance(m, dict) or m.get("role") not in ("system", "developer", "user", "assistant", "tool"):
        raise WireError(f"messages[{i}]: role must be one of system, developer, user, assistant, tool")
    calls = [
        {"id": c["id"], "function": {"name": c["function"]["name"], "arguments": c["function"]["arguments"]}}
        for c in m.get("tool_calls") or []
    ]
    return {
        "role": "system" if m["role"] == "developer" else m["role"],
        "content": _text(m.get("content")),
        "tool_calls": calls or None,
        "tool_call_id": m.get("tool_call_id"),
        "name": m.get("name"),
    }


def _text(content: Any) -> str | None:
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: keep the text ones
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    raise WireError("message content must be a string or an array of content parts")


def _tool(t: Any, i: int) -> dict[str, Any]:
    fn = t.get("function") if isinstance(t, dict) else None
    if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
        raise WireError(f"tools[{i}]: expected {{type: function, function: {{name, parameters}}}}")
    return {
        "name": fn["name"],
        "description": fn.get("description") or "",
        "parameters": fn.get("parameters") or {"type": "object", "properties": {}},
    }


def _tool_choice(choice: Any) -> str | None:
    if choice is None or isinstance(choice, str):
        return choice
    if isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        return choice["function"].get("name")
    raise WireError("tool_choice must be auto, none, required or {type: function, function: {name}}")


def _response_format(fmt: Any) -> tuple[dict[str, Any] | None, str | None]:
    if not isinstance(fmt, dict):
        return None, None
    if fmt.get("type") == "json_schema":
        spec = fmt.get("json_schema") or {}
        return spec.get("schema") or {}, spec.get("name")
    if fmt.get("type") == "json_object":
        return {"type": "object"}, None
    return None, None


def render_response(
    response: ModelResponse, *, model: str, index: int, bad_tool_args: bool = False, sloppy_tool_args: bool = False
) -> dict[str, Any]:
    """`bad_tool_args`: tool-call arguments cut in half (not JSON, not repairable); `sloppy_tool_args`:
    written as a small model might, with single quotes and a trailing comma (repairable)."""
    message = response.message
    wire_message: dict[str, Any] = {"role": "assistant", "content": message.content, "refusal": None}
    if message.reasoning:
        wire_message["reasoning_content"] = message.reasoning  # as vLLM's reasoning parsers return it
    if message.tool_calls:
        wire_message["tool_calls"] = [
            {
                "id": c.id,
                "type": "function",
                "function": {
                    "name": c.function.name,
                    "arguments": _arguments(c.function.arguments, bad_tool_args, sloppy_tool_args),
                },
            }
            for c in message.tool_calls
        ]
    finish = response.finish_reason or ("tool_calls" if message.tool_calls else "stop")
    usage = response.usage
    prompt = usage.input_tokens + usage.cache_read_tokens  # OpenAI counts cached tokens inside prompt_tokens
    return {
        "id": f"chatcmpl-fake{index:08d}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": "fp_envsim_fake",
        "choices": [{"index": 0, "message": wire_message, "finish_reason": finish, "logprobs": None}],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": usage.output_tokens,
            "total_tokens": prompt + usage.output_tokens,
            "prompt_tokens_details": {"cached_tokens": usage.cache_read_tokens, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
        },
    }


def _arguments(arguments: str, cut: bool, sloppy: bool) -> str:
    if cut:
        return arguments[: max(1, len(arguments) // 2)]
    if sloppy:
        value = json.loads(arguments or "{}")
        if isinstance(value, dict) and value:
            items = ", ".join(f"{_single_quoted(k)}: {_single_quoted(v)}" for k, v in value.items())
            return "{" + items + ",}"
    return arguments


def _single_quoted(value: Any) -> str:
    """Python-ish literal: strings in single quotes (what small models often write)."""
    if isinstance(value, str):
        return "'" + value.replace("'", "\\'") + "'"
    return json.dumps(value, ensure_ascii=False)


_ERROR_TYPES = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    404: ("invalid_request_error", "not_found"),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", None),
    503: ("server_error", "overloaded"),
}


def error_body(status: int, message: str) -> dict[str, Any]:
    kind, code = _ERROR_TYPES.get(status, ("server_error", None))
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

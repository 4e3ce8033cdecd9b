"""Server profiles for the fake server: answer like a particular real server, refusals included.

`FakeModelServer(emulate="llama-cpp-python")` behaves as llama-cpp-python 0.3.x's server does with
`--chat_format chatml-function-calling` (read from its source, checked against the real one by
tests/models/real_server):

- `/v1/models` says `owned_by: "me"`;
- `response_format: {type: json_schema}` is an HTTP 500 (its request type allows `text` / `json_object`);
- an assistant message without a `content` key is an HTTP 500 from its chat template, and one with
  `content: null` an HTTP 500 from its request validation (it takes `""`);
- `tool_choice: "required"` is an HTTP 500 with an empty message (a failed assertion);
- `tools` without a `tool_choice` are not shown to the model at all;
- one request is computed at a time (a single slot): the others queue, and their wait counts in latency;
- `max_tokens` cuts the reply (`finish_reason: "length"`);
- with tools offered and `tool_choice: auto`, a text reply comes back empty (its grammar allows a tool
  call or the end of the message only).

`generic` (the default) accepts everything, as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

Emulation = Literal["generic", "llama-cpp-python"]
EMULATIONS: tuple[str, ...] = get_args(Emulation)

# Characters per token when a reply is cut at `max_tokens` (the fake server's usage estimate uses the same).
CHARS_PER_TOKEN = 4


@dataclass(frozen=True)
class Refusal:
    status: int
    message: str
    param: str | None = None


def models_reply(emulate: str, model: str = "fake-model") -> dict[str, Any]:
    owner = "me" if emulate == "llama-cpp-python" else "envsim-fake-server"
    return {"object": "list", "data": [{"id": model, "object": "model", "owned_by": owner, "permissions": []}]}


def refusal(emulate: str, body: dict[str, Any]) -> Refusal | None:
    """The error this server answers `body` with, or None when it accepts the request."""
    if emulate != "llama-cpp-python":
        return None
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") not in (None, "text", "json_object"):
        return Refusal(
            500,
            "[{'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), "
            "'msg': \"Input should be 'text' or 'json_object'\", 'input': '" + str(fmt.get("type")) + "'}]",
        )
    for i, message in enumerate(body.get("messages") or []):
        if isinstance(message, dict) and "content" not in message:
            return Refusal(500, "'dict object' has no attribute 'content'")
        if isinstance(message, dict) and message.get("role") == "assistant" and message["content"] is None:
            return Refusal(
                500,
                f"1 validation error:\n  {{'type': 'string_type', 'loc': ('body', 'messages', {i}, "
                "'ChatCompletionRequestAssistantMessage', 'content'), 'msg': 'Input should be a valid string'}",
            )
    if body.get("tool_choice") == "required":
        return Refusal(500, "")
    return None


def visible_tools(emulate: str, body: dict[str, Any]) -> bool:
    """Whether the model is shown the request's tools."""
    return not (emulate == "llama-cpp-python" and body.get("tool_choice") in (None, "none"))


def text_with_tools(emulate: str) -> bool:
    return emulate != "llama-cpp-python"


def single_slot(emulate: str) -> bool:
    return emulate == "llama-cpp-python"


def honours_max_tokens(emulate: str) -> bool:
    return emulate == "llama-cpp-python"

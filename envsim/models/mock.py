"""`MockModel`: a deterministic, always-valid stand-in for a real model, so whole configs run offline.

Select it with the model string `mock:<any label>` (or engine MOCK). Each reply is seeded from the
canonical request hash (which includes `GenerationParams.seed`), so the same request always gets the same
reply, and different requests get different ones. Replies are valid for the request:

- with `response_schema`: JSON text of an instance that validates against the schema;
- with tools offered (and `tool_choice` not "none"): right after a user message (or when a tool is
  forced) it calls one tool, chosen deterministically, with arguments valid for its `parameters`; after
  tool results it answers in text, summarizing them;
- otherwise: a short text reply that quotes the last user message.

Usage is estimated at four characters per token. The mock knows nothing of environments or roles: it
cannot end a conversation on its own (a user simulator played by it never says the stop marker), so
mock-driven episodes run to their `max_turns`.
"""

from __future__ import annotations

import hashlib
import json
import random

from envsim.canonical import canonical_json
from envsim.messages import Message, ToolCall, ToolSpec
from envsim.models.base import ChatModel, ModelRequest, ModelResponse, Usage
from envsim.models.schema_instance import valid_instance

_OPENERS = ["Thanks for reaching out", "Understood", "Sure", "Got it", "Happy to help"]


class MockModel(ChatModel):
    def __init__(self, label: str = "default") -> None:
        self.label = label
        self.name = f"mock:{label}"
        self.calls = 0

    async def generate(self, request: ModelRequest) -> ModelResponse:
        return self.reply(request)

    def reply(self, request: ModelRequest) -> ModelResponse:
        """The (synchronous, pure) reply to `request`."""
        self.calls += 1
        # request.canonical_key(self.name), serialized once: the request's canonical text is the same
        # JSON without the `"model":NAME,` member, so its length (for the usage estimate) follows.
        keyed = canonical_json({**request.model_dump(mode="json", exclude={"context"}), "model": self.name})
        key = hashlib.sha256(keyed.encode("utf-8")).hexdigest()
        text_length = len(keyed) - len(canonical_json({"model": self.name})) + 1
        rng = random.Random(int(key[:16], 16))
        if request.response_schema is not None:
            value = valid_instance(request.response_schema, rng)
            message = Message.assistant(json.dumps(value, ensure_ascii=False))
        elif self._should_call_tool(request):
            tool = self._pick_tool(request, rng)
            arguments = valid_instance(tool.parameters, rng) if tool.parameters else {}
            call = ToolCall.make(tool.name, arguments if isinstance(arguments, dict) else {}, id=f"call_{key[:16]}")
            message = Message.assistant(None, [call])
        elif _last_role(request) == "tool":
            message = Message.assistant(_summarize_tool_results(request))
        else:
            message = Message.assistant(_text_reply(request, rng))
        finish = "tool_calls" if message.tool_calls else "stop"
        calls = message.tool_calls or []
        output_chars = len(message.content or "") + sum(len(c.function.arguments) + 20 for c in calls)
        usage = Usage(
            requests=1,
            input_tokens=max(1, text_length // 4),
            output_tokens=max(1, output_chars // 4),
        )
        return ModelResponse(message=message, finish_reason=finish, usage=usage, model=self.name)

    @staticmethod
    def _should_call_tool(request: ModelRequest) -> bool:
        if not request.tools or request.tool_choice == "none":
            return False
        if request.tool_choice not in (None, "auto"):
            return True  # "required" or a named tool: the request insists
        return _last_role(request) == "user"

    @staticmethod
    def _pick_tool(request: ModelRequest, rng: random.Random) -> ToolSpec:
        for tool in request.tools:
            if tool.name == request.tool_choice:
                return tool
        return rng.choice(request.tools)


def _last_role(request: ModelRequest) -> str | None:
    return next((m.role for m in reversed(request.messages) if m.role != "system"), None)


def _summarize_tool_results(request: ModelRequest) -> str:
    results: list[str] = []
    for m in reversed(request.messages):
        if m.role != "tool":
            break
        results.append(_clip(m.content or "", 120))
    results.reverse()
    return "Here is what I found: " + "; ".join(results)


def _text_reply(request: ModelRequest, rng: random.Random) -> str:
    last_user = next((m for m in reversed(request.messages) if m.role == "user" and m.content), None)
    if last_user is None:
        return f"{rng.choice(_OPENERS)}. How can I help you today?"
    return f'{rng.choice(_OPENERS)}: you said "{_clip(last_user.content or "", 80)}". Let me help with that.'


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."

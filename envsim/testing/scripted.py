"""Strict, scriptable test doubles: `ScriptedModel` (a list of replies) and `FunctionModel` (a function).

A ScriptedModel fails on a call it has no step for, on a step whose expectations do not match, and
(via `assert_consumed`) on steps nobody asked for. Both are ordinary `ChatModel`s, so configs and the
CLI can select them like any provider (`scripted:<file>`, `function:<module:function>`).
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from envsim.errors import DataError, UnexpectedModelCall
from envsim.messages import Message, ToolCall
from envsim.models.base import ChatModel, ModelRequest, ModelResponse, Usage

Reply = ModelResponse | Message | str | BaseException


@dataclass
class ScriptStep:
    """One expected call and its reply. `expect_role` checks `request.context.role` when set."""

    reply: Reply
    expect_role: str | None = None
    expect_tools: bool | None = None  # True: the request must offer tools; False: it must not


def to_response(reply: ModelResponse | Message | str, model: str) -> ModelResponse:
    if isinstance(reply, ModelResponse):
        return reply
    message = reply if isinstance(reply, Message) else Message.assistant(reply)
    finish = "tool_calls" if message.tool_calls else "stop"
    usage = Usage(requests=1, input_tokens=0, output_tokens=0)
    return ModelResponse(message=message, finish_reason=finish, usage=usage, model=model)


class ScriptedModel(ChatModel):
    def __init__(self, steps: Sequence[ScriptStep | Reply], name: str = "scripted:inline") -> None:
        self.name = name
        self._steps = [s if isinstance(s, ScriptStep) else ScriptStep(reply=s) for s in steps]
        self._next = 0
        self.requests: list[ModelRequest] = []

    @property
    def remaining(self) -> int:
        return len(self._steps) - self._next

    async def generate(self, request: ModelRequest) -> ModelResponse:
        self.requests.append(request)
        if self._next >= len(self._steps):
            last = request.messages[-1].content if request.messages else None
            raise UnexpectedModelCall(
                f"{self.name}: unexpected call #{len(self.requests)} (script has {len(self._steps)} steps); "
                f"role={request.context.role!r}, last message={str(last)[:200]!r}"
            )
        step = self._steps[self._next]
        self._next += 1
        if step.expect_role is not None and request.context.role != step.expect_role:
            raise UnexpectedModelCall(
                f"{self.name}: step {self._next} expected a call from role {step.expect_role!r}, "
                f"got {request.context.role!r}"
            )
        if step.expect_tools is not None and bool(request.tools) != step.expect_tools:
            raise UnexpectedModelCall(
                f"{self.name}: step {self._next} expected a request {'with' if step.expect_tools else 'without'} tools"
            )
        if isinstance(step.reply, BaseException):
            raise step.reply
        return to_response(step.reply, self.name)

    def assert_consumed(self) -> None:
        if self.remaining:
            raise UnexpectedModelCall(f"{self.name}: {self.remaining} scripted step(s) were never used")

    @classmethod
    def from_file(cls, path: str | Path) -> ScriptedModel:
        """Load steps from YAML/JSON: a list of `{text: ...}` or `{tool_calls: [{name, arguments}]}`
        (optionally with `role:` to check who calls)."""
        p = Path(path)
        try:
            data = yaml.safe_load(p.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise DataError(f"cannot read model script {p}: {exc}") from exc
        items = data.get("steps") if isinstance(data, dict) else data
        if not isinstance(items, list):
            raise DataError(f"{p}: a model script is a list of steps (or a mapping with `steps:`)")
        steps = [_step_from_dict(item, f"{p}: steps[{i}]") for i, item in enumerate(items)]
        return cls(steps, name=f"scripted:{p}")


def _step_from_dict(item: Any, where: str) -> ScriptStep:
    if isinstance(item, str):
        return ScriptStep(reply=item)
    if not isinstance(item, dict):
        raise DataError(f"{where}: expected a string or a mapping, got {type(item).__name__}")
    unknown = set(item) - {"text", "tool_calls", "role"}
    if unknown:
        raise DataError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: text, tool_calls, role")
    calls = []
    step_no = where.rsplit("[", 1)[-1].rstrip("]")
    for j, call in enumerate(item.get("tool_calls") or []):
        if not isinstance(call, dict) or "name" not in call:
            raise DataError(f"{where}.tool_calls[{j}]: each tool call needs a `name` (and `arguments`)")
        args = call.get("arguments", {})
        # Deterministic ids: same script, same bytes out.
        call_id = call.get("id") or f"call_{step_no}_{j}"
        calls.append(ToolCall.make(call["name"], args if isinstance(args, str) else json.dumps(args), id=call_id))
    message = Message.assistant(item.get("text"), calls or None)
    return ScriptStep(reply=message, expect_role=item.get("role"))


ReplyFunction = Callable[[ModelRequest], "ModelResponse | Message | str | Awaitable[ModelResponse | Message | str]"]


class FunctionModel(ChatModel):
    """Computes each reply from the request: `fn(request) -> ModelResponse | Message | str` (sync or async)."""

    def __init__(self, fn: ReplyFunction, name: str | None = None) -> None:
        self.fn = fn
        self.name = name or f"function:{getattr(fn, '__name__', 'fn')}"
        self.calls = 0

    async def generate(self, request: ModelRequest) -> ModelResponse:
        self.calls += 1
        result = self.fn(request)
        if inspect.isawaitable(result):
            result = await result
        return to_response(result, self.name)  # type: ignore[arg-type]

"""Run one assistant message's tool calls through the environments and turn them into tool messages.

Generic on purpose: the live episode loop, scenario replay and re-execution all call
`execute_tool_calls` with anything that satisfies `ToolRouter` (in practice an `EnvironmentSet`).

Ordering rule (so recorded patches are deterministic): calls that touch the same *stateful*
environment run one after another in the order the model emitted them; calls to different
environments, or to stateless tools, run concurrently. Results always come back in call order.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from envsim.environments.base import Environment, StepContext, StepResult
from envsim.errors import CircuitOpenError, EnvsimError, ModelAuthError, RequestRefusedError
from envsim.messages import Message, ToolCall, tool_result_content
from envsim.recording.trace import StepRecord


@runtime_checkable
class ToolRouter(Protocol):
    """What tool execution needs from a set of environments."""

    async def step(self, call: ToolCall, context: StepContext) -> StepResult:
        """Route the call to the environment owning the tool; unknown tools give an error result."""
        ...

    def environment_of(self, tool_name: str) -> Environment | None:
        """The environment instance owning `tool_name`, or None when no environment has it."""
        ...


class EnvironmentStepError(EnvsimError):
    """An environment raised instead of returning a StepResult (e.g. its simulating model failed
    after retries). The conversation cannot honestly continue: the episode ends with
    `environment_error`. Ordinary tool errors never raise; they come back as tool messages."""

    def __init__(self, message: str, *, environment: str | None, tool: str, call_id: str) -> None:
        self.environment = environment
        self.tool = tool
        self.call_id = call_id
        super().__init__(message)


# Errors that must stop the whole run, not just one conversation.
RUN_STOPPING_ERRORS: tuple[type[BaseException], ...] = (CircuitOpenError, ModelAuthError, RequestRefusedError)


def _lane_key(router: ToolRouter, call: ToolCall, index: int) -> str:
    """Calls sharing a lane run sequentially. Only stateful environments need a shared lane."""
    env = router.environment_of(call.name)
    if env is not None and env.stateful:
        return f"env:{env.id}"
    return f"call:{index}"


async def _run_one(
    router: ToolRouter, call: ToolCall, context: StepContext, *, turn: int, round: int
) -> tuple[Message, StepRecord]:
    env = router.environment_of(call.name)
    started = time.perf_counter()
    try:
        result = await router.step(call, context)
    except (asyncio.CancelledError, *RUN_STOPPING_ERRORS):
        raise
    except Exception as exc:  # an environment bug or its model giving up: the episode must stop
        where = f"environment {env.id!r}" if env is not None else "the environment set"
        detail = exc.render() if isinstance(exc, EnvsimError) else f"{type(exc).__name__}: {exc}"
        raise EnvironmentStepError(
            f"{where} failed while running tool {call.name!r} (call {call.id}): {detail}",
            environment=env.id if env is not None else None,
            tool=call.name,
            call_id=call.id,
        ) from exc
    latency = time.perf_counter() - started
    message = Message.tool(call.id, tool_result_content(result.output, result.error))
    record = StepRecord(
        turn=turn,
        round=round,
        environment=result.environment,
        tool=result.tool,
        call_id=call.id,
        arguments=result.arguments,
        output=result.output,
        error=result.error,
        error_kind=result.error_kind,
        patch=result.patch,
        state_hash=result.state_hash,
        cached=result.cached,
        latency_s=latency,
        usage=result.usage,
        state_view=result.state_view,
    )
    return message, record


def _most_severe(group_error: BaseExceptionGroup) -> BaseException:
    """Callers expect plain exceptions: a run-stopping error wins over an environment failure."""
    leaves: list[BaseException] = []
    pending: list[BaseException] = [group_error]
    while pending:
        error = pending.pop(0)
        if isinstance(error, BaseExceptionGroup):
            pending.extend(error.exceptions)
        else:
            leaves.append(error)
    for error in leaves:
        if isinstance(error, RUN_STOPPING_ERRORS):
            return error
    return leaves[0]


async def execute_tool_calls(
    envs: ToolRouter,
    calls: Sequence[ToolCall],
    *,
    turn: int,
    round: int,
    context: StepContext,
) -> tuple[list[Message], list[StepRecord]]:
    """Execute `calls` (one assistant message's tool calls) and return, in call order, one tool message
    (with the call's `tool_call_id`) and one `StepRecord` per call.

    A step that returns an error (unknown tool, bad arguments, rejected patch, tool exception) becomes a
    tool message carrying `{"error": ...}`: the assistant sees it and may recover. An environment that
    *raises* ends the conversation with `EnvironmentStepError`; `CircuitOpenError` / `ModelAuthError`
    and cancellation propagate untouched so the runner can stop the run.
    """
    step_context = context.model_copy(update={"turn": turn})
    lanes: dict[str, list[int]] = {}
    for index, call in enumerate(calls):
        lanes.setdefault(_lane_key(envs, call, index), []).append(index)

    results: list[tuple[Message, StepRecord] | None] = [None] * len(calls)

    async def run_lane(indices: list[int]) -> None:
        for index in indices:
            results[index] = await _run_one(envs, calls[index], step_context, turn=turn, round=round)

    if len(lanes) == 1:
        await run_lane(next(iter(lanes.values())))
    else:
        # TaskGroup cancels sibling lanes when one raises, so a failure never leaves steps running.
        try:
            async with asyncio.TaskGroup() as group:
                for indices in lanes.values():
                    group.create_task(run_lane(indices))
        except BaseExceptionGroup as group_error:
            raise _most_severe(group_error) from None

    messages = [r[0] for r in results if r is not None]
    records = [r[1] for r in results if r is not None]
    return messages, records

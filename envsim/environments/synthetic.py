"""Synthetic environments: a model plays each tool, through the `ChatModel` interface only.

Stateless: the model returns `{"output": ...}`. Stateful (`state_params` present): it also sees the
state and returns a JSON Patch, which is applied only under the state rule (clean apply, valid result,
tool not read-only). A bad reply (not JSON, wrong shape, output off its schema, rejected patch) is
sent back with the exact problem, up to `max_attempts`; then the step is an error result.

Model failures (ModelError after the model layer's retries) propagate: the conversation cannot
honestly continue without the tool, and the episode loop records why.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from envsim.canonical import stable_hash
from envsim.environments.base import StepContext
from envsim.environments.state import Transition, propose_patch
from envsim.environments.synthetic_prompt import (
    SyntheticReply,
    reply_schema,
    retry_message,
    system_message,
    tool_contract,
    user_message,
)
from envsim.environments.tool_cache import ToolCache
from envsim.environments.tool_environment import Outcome, ToolEnvironment
from envsim.messages import Message, ToolSpec
from envsim.models.base import ChatModel, GenerationParams, ModelRequest, RequestContext, Usage
from envsim.models.json_extract import JSONExtractionError, extract_json


class SyntheticEnvironment(ToolEnvironment):
    kind = "synthetic"

    def __init__(
        self,
        id: str,
        tools: list[ToolSpec],
        *,
        model: ChatModel,
        system_prompt: str | None = None,
        state: dict[str, Any] | None = None,
        state_schema: dict[str, Any] | None = None,
        include_history: bool = False,
        max_attempts: int = 3,
        cache: ToolCache | None = None,
        generation: GenerationParams | None = None,
    ) -> None:
        super().__init__(id, tools, state, state_schema)
        self.model = model
        self.system_prompt = system_prompt
        self.include_history = include_history
        self.max_attempts = max(1, max_attempts)
        self.cache = cache
        self.generation = generation or GenerationParams()
        self._fingerprints = {
            name: stable_hash({"persona": system_prompt, "tool": tool_contract(t), "state_schema": state_schema})
            for name, t in self.tools.items()
        }

    async def _run(self, tool: ToolSpec, arguments: dict[str, Any], context: StepContext) -> Outcome:
        key = None
        if self.cache is not None:
            key = ToolCache.key(self.id, tool.name, arguments, self.state_hash, self._fingerprints[tool.name])
            hit = self._from_cache(tool, key)
            if hit is not None:
                return hit

        stateful = self._state is not None
        messages = [
            system_message(self.system_prompt, self.id, tool, stateful=stateful),
            user_message(
                tool,
                arguments,
                state=self._state,
                state_schema=self.state_schema,
                history=context.history if self.include_history else None,
            ),
        ]
        usage = Usage()
        problem = "no reply"
        for attempt in range(1, self.max_attempts + 1):
            request = ModelRequest(
                messages=list(messages),
                response_schema=reply_schema(stateful=stateful, output_schema=tool.output_schema),
                response_schema_name="tool_reply",
                params=self.generation,
                context=RequestContext(episode_id=context.episode_id, role="environment", attempt=attempt),
            )
            response = await self.model.generate(request)
            usage = usage + response.usage
            checked = self._check_reply(tool, response.text)
            if isinstance(checked, str):
                problem = checked
                messages += [Message.assistant(response.text), retry_message(problem)]
                continue
            output, transition = checked
            if key is not None and self.cache is not None:
                self.cache.set(key, {"output": output, "patch": transition.patch})
            return Outcome(
                output=output,
                patch=transition.patch,
                new_state=transition.state if stateful else None,
                usage=usage,
                attempts=attempt,
            )
        return Outcome(
            error_kind="infrastructure",  # the simulator failed; the real backend would have answered
            error=(
                f"the simulated tool {tool.name!r} gave no valid reply in {self.max_attempts} attempt(s); "
                f"last problem: {problem}"
            ),
            usage=usage,
            attempts=self.max_attempts,
        )

    def _check_reply(self, tool: ToolSpec, text: str) -> tuple[Any, Transition] | str:
        """(output, accepted transition) or the problem to send back to the model."""
        try:
            value = extract_json(text)
        except JSONExtractionError as exc:
            return str(exc)
        if not isinstance(value, dict):
            return 'the reply must be a JSON object like {"output": ...}, not a bare value'
        try:
            reply = SyntheticReply.model_validate(value)
        except ValidationError as exc:
            return "the reply has the wrong shape: " + _pydantic_problems(exc)
        problem = self._output_problem(tool, reply.output)
        if problem is not None:
            return problem
        if self._state is None:
            if reply.patch:
                return "this tool has no state; `patch` must be empty or absent"
            return reply.output, Transition(state={})
        transition = propose_patch(self._state, reply.patch, self.state_schema, read_only=tool.read_only)
        if not transition.ok:
            return transition.rejected or "the state change was rejected"
        return reply.output, transition

    def _from_cache(self, tool: ToolSpec, key: str) -> Outcome | None:
        assert self.cache is not None
        stored = self.cache.get(key)
        if stored is None or "output" not in stored:
            return None
        hit_usage = Usage(cache_hits=1)
        if self._state is None:
            return Outcome(output=stored["output"], cached=True, usage=hit_usage, attempts=0)
        # The key includes the state hash, so the stored patch was made for exactly this state; re-checking
        # is cheap insurance against a cache written by an older envsim.
        transition = propose_patch(self._state, stored.get("patch", []), self.state_schema, read_only=tool.read_only)
        if not transition.ok:
            return None
        return Outcome(
            output=stored["output"],
            patch=transition.patch,
            new_state=transition.state,
            cached=True,
            usage=hit_usage,
            attempts=0,
        )


def _pydantic_problems(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:5]:
        where = "/".join(str(p) for p in error["loc"]) or "(top level)"
        message = "unexpected key (allowed: output, patch)" if error["type"] == "extra_forbidden" else error["msg"]
        parts.append(f"{where}: {message}")
    return "; ".join(parts)

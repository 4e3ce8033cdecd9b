"""Synthetic environments: a model plays each tool, through the `ChatModel` interface only.

Stateless: the model returns `{"output": ...}`. Stateful (`state_params` present): it also sees the
state and returns a JSON Patch, which is applied only under the state rule (clean apply, valid result,
tool not read-only). A bad reply (not JSON, wrong shape, output off its schema, rejected patch) is
sent back with the exact problem, up to `max_attempts`; then the step is an error result.

Model failures (ModelError after the model layer's retries) propagate: the conversation cannot
honestly continue without the tool, and the episode loop records why.

Large states: the model sees a view (see `state_view`): the tool's configured `state_view`, or, when the
whole state would push the prompt past `prompt_token_budget`, one envsim chooses. A patch may only
change what the view showed (`state_view_guard`). Prompt layout: the system message is the same for
every call of the environment (persona, every tool contract, the state schema), so providers can cache
it; the user message carries what varies. Tools with a `handler` or an oumi `executor` run as Python
(see `hybrid`).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from envsim.canonical import stable_hash
from envsim.config.models import StateViewConfig
from envsim.environments.base import StepContext
from envsim.environments.hybrid import run_python_tool
from envsim.environments.python import PythonTool
from envsim.environments.state import Transition, propose_patch
from envsim.environments.state_view import StateView, configured_view, render_view
from envsim.environments.state_view_auto import CHARS_PER_TOKEN, auto_view, estimate_tokens, larger_than
from envsim.environments.state_view_guard import view_violation
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
from envsim.errors import ConfigError
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
        views: Mapping[str, StateViewConfig] | None = None,
        allow_create: Mapping[str, Sequence[str]] | None = None,
        prompt_token_budget: int = 6000,
        python_tools: Sequence[PythonTool] = (),
        tool_order: Sequence[str] = (),
    ) -> None:
        """`views` / `allow_create`: per simulated tool (see ToolConfig); `python_tools`: the hybrid part,
        tools run as Python over the same state (their specs are added to `tools`); `tool_order`: the
        tool names in the order the assistant sees them (the config's), default simulated ones first."""
        specs = [*tools, *(t.spec for t in python_tools)]
        rank = {name: i for i, name in enumerate(tool_order)}
        specs.sort(key=lambda spec: rank.get(spec.name, len(rank)))
        super().__init__(id, specs, state, state_schema)
        self.model = model
        self.system_prompt = system_prompt
        self.include_history = include_history
        self.max_attempts = max(1, max_attempts)
        self.cache = cache
        self.generation = generation or GenerationParams()
        self.views = dict(views or {})
        self.allow_create = {name: list(pointers) for name, pointers in (allow_create or {}).items()}
        self.prompt_token_budget = prompt_token_budget
        self.python_tools = {t.spec.name: t for t in python_tools}
        for python_tool in python_tools:
            if state is None and python_tool.convention.requires_state:
                raise ConfigError(
                    f"tool {python_tool.spec.name!r} of environment {id!r} takes a `state` argument, "
                    "but the environment has no state",
                    hint="add state_params (state_schema and initial_state) to the environment",
                )
        simulated = [t for name, t in self.tools.items() if name not in self.python_tools]
        # One system message for every call: the provider-cacheable prefix (see synthetic_prompt).
        self._system = system_message(
            system_prompt, id, list(self.tools.values()), state_schema=state_schema, stateful=self.stateful
        )
        self._fingerprints = {t.name: self._fingerprint(t) for t in simulated}

    def _fingerprint(self, tool: ToolSpec) -> str:
        parts: dict[str, Any] = {
            "persona": self.system_prompt,
            "tool": tool_contract(tool),
            "state_schema": self.state_schema,
        }
        if tool.name in self.views or self.allow_create.get(tool.name):  # only then: older cache keys stay valid
            view = self.views.get(tool.name)
            parts["view"] = view.model_dump(mode="json") if view is not None else None
            parts["allow_create"] = self.allow_create.get(tool.name, [])
        return stable_hash(parts)

    async def _run(self, tool: ToolSpec, arguments: dict[str, Any], context: StepContext) -> Outcome:
        python_tool = self.python_tools.get(tool.name)
        if python_tool is not None:
            return await run_python_tool(self.id, python_tool, arguments, self._store, context)
        key = None
        if self.cache is not None:
            key = ToolCache.key(self.id, tool.name, arguments, self.state_hash, self._fingerprints[tool.name])
            hit = self._from_cache(tool, key)
            if hit is not None:
                return hit

        stateful = self._state is not None
        history = context.history if self.include_history else None
        allow_create = self.allow_create.get(tool.name) or None
        view = self._view(tool, arguments, context, history, allow_create) if stateful else None
        messages = [
            self._system,
            user_message(
                tool,
                arguments,
                state_text=render_view(view) if view is not None else None,
                history=history,
                allow_create=allow_create,
            ),
        ]
        pointers = view.pointers if view is not None else None
        usage = Usage()
        problem = "no reply"
        for attempt in range(1, self.max_attempts + 1):
            request = ModelRequest(
                messages=list(messages),
                response_schema=reply_schema(stateful=stateful, output_schema=tool.output_schema),
                response_schema_name="tool_reply",
                params=self.generation,
                context=RequestContext(episode_id=context.episode_id, role="environment", attempt=attempt),
                cache_prefix=1,  # the system message: the same for every call of this environment
            )
            response = await self.model.generate(request)
            usage = usage + response.usage
            checked = self._check_reply(tool, response.text, view, arguments)
            if isinstance(checked, str):
                problem = checked
                messages += [Message.assistant(response.text), retry_message(problem)]
                continue
            output, transition = checked
            if key is not None and self.cache is not None:
                self.cache.set(key, {"output": output, "patch": transition.patch, "state_view": pointers})
            return Outcome(
                output=output,
                patch=transition.patch,
                new_state=transition.state if stateful else None,
                usage=usage,
                attempts=attempt,
                state_view=pointers,
            )
        return Outcome(
            error_kind="infrastructure",  # the simulator failed; the real backend would have answered
            error=(
                f"the simulated tool {tool.name!r} gave no valid reply in {self.max_attempts} attempt(s); "
                f"last problem: {problem}"
            ),
            usage=usage,
            attempts=self.max_attempts,
            state_view=pointers,
        )

    def _view(
        self,
        tool: ToolSpec,
        arguments: dict[str, Any],
        context: StepContext,
        history: list[Message] | None,
        allow_create: list[str] | None,
    ) -> StateView:
        """The tool's configured view; else the whole state when the prompt stays within the budget; else a
        view chosen for this call within what the budget leaves after the rest of the prompt."""
        assert self._state is not None
        config = self.views.get(tool.name)
        if config is not None:
            return configured_view(self._state, config, arguments)
        rest = user_message(tool, arguments, state_text="", history=history, allow_create=allow_create)
        fixed = estimate_tokens(self._system.content or "") + estimate_tokens(rest.content or "")
        room = max(self.prompt_token_budget - fixed, self.prompt_token_budget // 4)
        if not larger_than(self._state, room * CHARS_PER_TOKEN):
            return StateView.whole(self._state)
        # Ids in the recent conversation help choose records even when the history is not shown.
        return auto_view(self._state, arguments, context.history, room)

    def _check_reply(
        self, tool: ToolSpec, text: str, view: StateView | None, arguments: dict[str, Any]
    ) -> tuple[Any, Transition] | str:
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
        if view is not None:
            outside = view_violation(
                reply.patch, view, self._state, allow_create=self.allow_create.get(tool.name, ()), arguments=arguments
            )
            if outside is not None:
                return outside
        if not reply.patch:
            return reply.output, Transition(state=self._state)  # no change: nothing to apply or validate
        # Applying may put the operations' values into the new state, where a later operation of the same
        # patch can change them: the recorded patch is a copy taken before, so it replays as the model wrote it.
        recorded = copy.deepcopy(reply.patch)
        transition = propose_patch(self._state, reply.patch, self.state_schema, read_only=tool.read_only)
        if not transition.ok:
            return transition.rejected or "the state change was rejected"
        if transition.patch:
            transition = dataclasses.replace(transition, patch=recorded)
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
            state_view=stored.get("state_view", [""]),  # entries from before views: the whole state was shown
        )


def _pydantic_problems(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:5]:
        where = "/".join(str(p) for p in error["loc"]) or "(top level)"
        message = "unexpected key (allowed: output, patch)" if error["type"] == "extra_forbidden" else error["msg"]
        parts.append(f"{where}: {message}")
    return "; ".join(parts)

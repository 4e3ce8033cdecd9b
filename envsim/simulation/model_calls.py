"""How the conversation roles call their models: one place for usage accounting per role and for
turning a failed call into an error that names the role.

Retries, rate limits and the response cache live in the model layer; by the time `generate` raises,
retrying is over. Run-stopping errors (`CircuitOpenError`, `ModelAuthError`) and cancellation pass
through untouched so the runner can stop the whole run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from envsim.errors import EnvsimError
from envsim.models.base import ChatModel, GenerationParams, ModelRequest, ModelResponse, RequestContext, Usage
from envsim.simulation.tool_execution import RUN_STOPPING_ERRORS


class RoleModelError(EnvsimError):
    """A role's model call failed for good (after the model layer's retries) or could not be made."""

    def __init__(self, role: str, detail: str) -> None:
        self.role = role
        self.detail = detail
        super().__init__(f"the {role} model failed: {detail}")


def describe_error(exc: BaseException) -> str:
    return exc.render() if isinstance(exc, EnvsimError) else f"{type(exc).__name__}: {exc}"


class RoleCaller:
    """Calls the model of each role for one episode and adds up usage per role.

    `models` maps a role name (planner, user, assistant, ...) to its ChatModel; `params` gives each
    role's generation parameters (a missing role uses `GenerationParams()`).
    """

    def __init__(
        self,
        models: Mapping[str, ChatModel],
        *,
        episode_id: str,
        params: Mapping[str, GenerationParams] | None = None,
    ) -> None:
        self.models = models
        self.episode_id = episode_id
        self.params = params or {}
        self.usage: dict[str, Usage] = {}

    def model(self, role: str) -> ChatModel:
        try:
            return self.models[role]
        except KeyError:
            raise RoleModelError(role, f"no model is configured for the {role!r} role") from None

    def params_for(self, role: str) -> GenerationParams:
        return self.params.get(role) or GenerationParams()

    def context(self, role: str) -> RequestContext:
        return RequestContext(episode_id=self.episode_id, role=role)

    def add_usage(self, role: str, usage: Usage | None) -> None:
        if usage is not None:
            self.usage[role] = self.usage.get(role, Usage()) + usage

    async def generate(self, role: str, request: ModelRequest) -> ModelResponse:
        """`request.context` and empty `params` are filled in for the role; so are the configured tool
        choice (where the request leaves it open: "auto") and parallel_tool_calls of a request with tools."""
        update: dict[str, object] = {"context": self.context(role)}
        params = request.params
        if params == GenerationParams():
            params = update["params"] = self.params_for(role)
        if request.tools and params.tool_choice is not None and request.tool_choice in (None, "auto"):
            update["tool_choice"] = params.tool_choice
        if request.tools and params.parallel_tool_calls is not None and request.parallel_tool_calls is None:
            update["parallel_tool_calls"] = params.parallel_tool_calls
        request = request.model_copy(update=update)
        model = self.model(role)
        try:
            response = await model.generate(request)
        except (asyncio.CancelledError, *RUN_STOPPING_ERRORS):
            raise
        except Exception as exc:  # the model layer already retried; this conversation cannot go on
            raise RoleModelError(role, describe_error(exc)) from exc
        self.add_usage(role, response.usage)
        return response

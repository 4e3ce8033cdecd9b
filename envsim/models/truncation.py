"""Replies cut off at the token limit (`finish_reason: "length"`).

A structured reply cut off is broken JSON, so it is asked again at once with a larger limit (twice the
limit it hit, up to `max_tokens_cap`); where no larger limit can be given (the cap is reached, or neither
the limit nor the reply's token count is known) the cut reply is returned as it is, marked on its message
(`Message.finish_reason == "length"`), and the caller's validation reports it as cut off. Text replies are
never re-asked here: the message mark is what the trace records and what attribute generation flags.
"""

from __future__ import annotations

import logging

from envsim.models.base import ChatModel, ModelRequest, ModelResponse, ModelWrapper

log = logging.getLogger(__name__)

DEFAULT_MAX_TOKENS_CAP = 16384
CUT_OFF_HINT = (
    "the reply was cut off at the token limit (finish_reason: length); raise "
    "inference_config.generation.max_new_tokens (or the server's own limit, e.g. its context size)"
)


def larger_limit(request: ModelRequest, response: ModelResponse, cap: int) -> int | None:
    """The limit to ask again with, or None when it cannot grow."""
    used = request.params.max_tokens or response.usage.output_tokens
    if not used:
        return None
    grown = min(cap, 2 * used)
    return grown if grown > (request.params.max_tokens or 0) and grown > used else None


class TruncationRetryModel(ModelWrapper):
    """Asks a structured request again with a larger `max_tokens` when its reply was cut off."""

    def __init__(self, inner: ChatModel, *, max_tokens_cap: int = DEFAULT_MAX_TOKENS_CAP, max_reasks: int = 2) -> None:
        super().__init__(inner)
        self.max_tokens_cap = max_tokens_cap
        self.max_reasks = max_reasks
        self._said = False

    async def generate(self, request: ModelRequest) -> ModelResponse:
        response = await self.inner.generate(request)
        paid = response.usage
        for _ in range(self.max_reasks):
            if request.response_schema is None or response.finish_reason != "length":
                break
            limit = larger_limit(request, response, self.max_tokens_cap)
            if limit is None:
                break
            if not self._said:
                self._said = True
                log.warning("%s: a structured reply was cut off at the token limit; asking again with more", self.name)
            request = request.model_copy(update={"params": request.params.model_copy(update={"max_tokens": limit})})
            response = await self.inner.generate(request)
            paid = paid + response.usage
            response.usage = paid  # every attempt is paid for
        return response

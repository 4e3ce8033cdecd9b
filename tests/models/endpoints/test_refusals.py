"""Error classes from the body, not just the status (issue 12, problem 3): a refused parameter is not
retried, not counted by the circuit breaker, and names the parameter."""

from __future__ import annotations

import pytest

from envsim.errors import ModelError, RequestRefusedError, RetryableModelError
from envsim.models.breaker import counts_as_endpoint_failure
from envsim.models.http_errors import error_for_status, refused_parameter
from envsim.models.retry import RetryPolicy

LLAMA_CPP_PYTHON_500 = (
    "[{'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), "
    "'msg': \"Input should be 'text' or 'json_object'\", 'input': 'json_schema'}]"
)


@pytest.mark.parametrize(
    ("status", "detail", "param", "expected"),
    [
        (500, LLAMA_CPP_PYTHON_500, None, "response_format"),
        (500, "'dict object' has no attribute 'content'", None, "messages[].content"),
        (400, "Unsupported parameter: 'seed' is not supported with this model.", None, "seed"),
        (400, "Invalid value for 'tool_choice'", "tool_choice", "tool_choice"),
        (422, "extra_forbidden: parallel_tool_calls", None, "parallel_tool_calls"),
        (400, "guided_json is not a valid option", None, "guided_json"),
        # Not refusals: server trouble, or about one request's size.
        (500, "The server had an error while processing your request.", None, None),
        (503, "Overloaded", None, None),
        (500, "CUDA out of memory while handling response_format", None, None),
        (400, "This model's maximum context length is 2048 tokens", "messages", None),
        (400, "Invalid prompt: flagged", None, None),
        (404, "unknown model response_format", None, None),
    ],
)
def test_refused_parameter_is_read_from_the_body(
    status: int, detail: str, param: str | None, expected: str | None
) -> None:
    assert refused_parameter(status, detail, param) == expected


def test_a_refusal_is_neither_retried_nor_an_endpoint_failure() -> None:
    error = error_for_status(500, LLAMA_CPP_PYTHON_500, endpoint="openai:m@http://127.0.0.1:1/v1")
    assert isinstance(error, RequestRefusedError) and error.param == "response_format"
    assert "response_format" in error.message
    assert not RetryPolicy().should_retry(error, attempt=1)
    assert not counts_as_endpoint_failure(error)


def test_plain_server_errors_stay_retryable() -> None:
    error = error_for_status(500, "The server had an error", endpoint="e")
    assert isinstance(error, RetryableModelError)
    assert counts_as_endpoint_failure(error)
    client = error_for_status(400, "Invalid prompt", endpoint="e")
    assert type(client) is ModelError

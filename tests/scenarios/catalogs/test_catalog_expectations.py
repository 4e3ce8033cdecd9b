"""Every expectation kind, passing and failing, on hand-made traces; reasons say what was found."""

from __future__ import annotations

from typing import Any

from envsim.canonical import stable_hash
from envsim.messages import Message
from envsim.recording.trace import StepRecord, TerminationReason, Trace
from envsim.scenarios.catalog import Expectations
from envsim.scenarios.evaluation import pass_hat_k, trace_passed
from envsim.scenarios.expectations import evaluate_expectations

STATE = {"orders": {"#W1": {"status": "pending", "items": ["a", "b"], "address": {"city": "Austin", "zip": "1"}}}}


def _trace(**changes: Any) -> Trace:
    trace = Trace(
        episode_id="e",
        seed=0,
        termination=TerminationReason.SCRIPT_END,
        final_state={"shop": STATE},
        messages=[Message.user("hi"), Message.assistant("Your order #W1 is Pending, sorry.")],
        steps=[
            StepRecord(turn=1, environment="shop", tool="get", call_id="c1", arguments={"id": "#W1", "x": 1}),
            StepRecord(turn=1, environment="shop", tool="cancel", call_id="c2", arguments={"id": "#W1"}, error="no"),
        ],
    )
    return trace.model_copy(update=changes)


def _check(expect: dict[str, Any], trace: Trace | None = None) -> tuple[bool, str]:
    results = evaluate_expectations(trace or _trace(), Expectations.model_validate(expect), default_env="shop")
    assert len(results) == 1
    return results[0].passed, results[0].reason


def test_state_equals() -> None:
    assert _check({"state": [{"path": "/orders/#W1/status", "equals": "pending"}]})[0]
    passed, reason = _check({"state": [{"path": "/orders/#W1/status", "equals": "cancelled"}]})
    assert not passed and reason == "/orders/#W1/status is 'pending', expected 'cancelled'"
    passed, reason = _check({"state": [{"path": "/orders/#W2/status", "equals": "x"}]})
    assert not passed and "does not exist" in reason


def test_state_contains_substring_member_and_subset() -> None:
    assert _check({"state": [{"path": "/orders/#W1/status", "contains": "end"}]})[0]
    assert _check({"state": [{"path": "/orders/#W1/items", "contains": "b"}]})[0]
    assert _check({"state": [{"path": "/orders/#W1/address", "contains": {"city": "Austin"}}]})[0]
    passed, reason = _check({"state": [{"path": "/orders/#W1/items", "contains": "c"}]})
    assert not passed and "does not contain 'c'" in reason
    assert not _check({"state": [{"path": "/orders/#W1/address", "contains": {"city": "Boston"}}]})[0]


def test_state_absent() -> None:
    assert _check({"state": [{"path": "/orders/#W1/cancel_reason", "absent": True}]})[0]
    passed, reason = _check({"state": [{"path": "/orders/#W1/status", "absent": True}]})
    assert not passed and "expected it to be absent" in reason


def test_state_hash() -> None:
    assert _check({"state_hash": {"shop": stable_hash(STATE)}})[0]
    passed, reason = _check({"state_hash": {"shop": "0" * 64}})
    assert not passed and "expected 000" in reason


def test_tool_called_with_subset_and_exact_arguments() -> None:
    assert _check({"tools_called": [{"name": "get", "arguments": {"id": "#W1"}}]})[0]
    assert not _check({"tools_called": [{"name": "get", "arguments": {"id": "#W1"}, "match": "exact"}]})[0]
    assert _check({"tools_called": [{"name": "get", "arguments": {"id": "#W1", "x": 1}, "match": "exact"}]})[0]
    passed, reason = _check({"tools_called": [{"name": "get", "arguments": {"id": "#W2"}}]})
    assert not passed and 'get({"id": "#W1", "x": 1}) -> ok' in reason


def test_tool_called_outcome() -> None:
    assert _check({"tools_called": [{"name": "cancel", "outcome": "error"}]})[0]
    assert _check({"tools_called": [{"name": "cancel", "error_contains": "NO"}]})[0]
    assert not _check({"tools_called": [{"name": "cancel", "outcome": "success"}]})[0]
    passed, reason = _check({"tools_called": [{"name": "delete"}]})
    assert not passed and "never called" in reason


def test_tool_not_called() -> None:
    assert _check({"tools_not_called": [{"name": "delete"}]})[0]
    assert _check({"tools_not_called": [{"name": "cancel", "outcome": "success"}]})[0]
    passed, reason = _check({"tools_not_called": [{"name": "cancel"}]})
    assert not passed and "must not be called" in reason


def test_tool_call_count() -> None:
    assert _check({"tool_call_count": [{"equals": 2}]})[0]
    assert _check({"tool_call_count": [{"name": "get", "min": 1, "max": 1}]})[0]
    passed, reason = _check({"tool_call_count": [{"name": "cancel", "min": 2}]})
    assert not passed and reason == "1 calls to cancel, expected at least 2"


def test_communicates_is_case_insensitive() -> None:
    assert _check({"communicates": ["pending"]})[0]
    passed, reason = _check({"communicates": ["refund"]})
    assert not passed and reason == "the assistant never said 'refund'"
    # Only the assistant's words count, not the user's.
    assert not _check({"communicates": ["hi"]})[0]


def test_no_tool_errors_and_termination() -> None:
    passed, reason = _check({"no_tool_errors": True})
    assert not passed and "1 tool call(s) failed" in reason
    assert _check({"no_tool_errors": True}, _trace(steps=[]))[0]
    assert _check({"termination": "script_end"})[0]
    assert not _check({"termination": "user_stop"})[0]


def test_a_failed_check_fails_the_trace() -> None:
    trace = _trace()
    trace.checks = evaluate_expectations(
        trace, Expectations.model_validate({"communicates": ["pending", "refund"]}), default_env="shop"
    )
    assert not trace_passed(trace)
    trace.checks = trace.checks[:1]
    assert trace_passed(trace)


def test_pass_hat_k_known_values() -> None:
    # c=2 of n=4: pass^1 = 2/4, pass^2 = C(2,2)/C(4,2) = 1/6; c=4 of 4 -> 1; c=0 -> 0.
    results = {"a": [True, True, False, False], "b": [True] * 4, "c": [False] * 4}
    assert pass_hat_k(results, 1) == (0.5 + 1 + 0) / 3
    assert abs(pass_hat_k(results, 2) - (1 / 6 + 1 + 0) / 3) < 1e-12
    assert abs(pass_hat_k(results, 4) - (0 + 1 + 0) / 3) < 1e-12
    assert pass_hat_k({"x": [True, False, True]}, 3) == 0.0


def test_pass_hat_k_needs_k_trials() -> None:
    import pytest

    from envsim.errors import EnvsimError

    with pytest.raises(EnvsimError, match="fewer than k=3"):
        pass_hat_k({"a": [True, True]}, 3)

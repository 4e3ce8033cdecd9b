"""Evaluate a scenario's `expect` on a finished episode: one `CheckResult(kind, passed, reason)` per check.

Kinds: state_equals, state_contains, state_absent (JSON Pointer into the final state), state_hash,
tool_called, tool_not_called, tool_call_count, communicates, no_tool_errors, termination.
Reasons are precise and short, e.g. "/orders/#W1/status is 'pending', expected 'cancelled'".
"""

from __future__ import annotations

import json
from typing import Any

import jsonpointer

from envsim.canonical import stable_hash
from envsim.recording.trace import CheckResult, StepRecord, Trace
from envsim.scenarios.catalog import Expectations, StateAssertion, ToolCallCount, ToolCallExpectation

_MISSING = object()
_SHOWN = 160  # characters of a value shown in a reason


def evaluate_expectations(trace: Trace, expect: Expectations, *, default_env: str | None = None) -> list[CheckResult]:
    """Every check of `expect` against `trace`, in a stable order (the order they are written)."""
    results = [_state_check(trace, a, default_env) for a in expect.state]
    results += [_hash_check(trace, env_id, expected) for env_id, expected in expect.state_hash.items()]
    results += [_called_check(trace, e) for e in expect.tools_called]
    results += [_not_called_check(trace, e) for e in expect.tools_not_called]
    results += [_count_check(trace, c) for c in expect.tool_call_count]
    results += _communicates_checks(trace, expect.communicates)
    if expect.no_tool_errors:
        results.append(_no_tool_errors_check(trace))
    if expect.termination is not None:
        passed = trace.termination == expect.termination
        reason = f"ended with {trace.termination.value}" + ("" if passed else f", expected {expect.termination.value}")
        results.append(CheckResult(kind="termination", passed=passed, reason=reason))
    return results


def all_passed(checks: list[CheckResult] | None) -> bool:
    return all(c.passed for c in checks or [])


# --------------------------------------------------------------------------- values


def show(value: Any) -> str:
    """A compact, bounded rendering of a JSON value for reasons: strings quoted, others as JSON."""
    text = repr(value) if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


def resolve_pointer(document: Any, pointer: str) -> Any:
    """The value at `pointer`, or `_MISSING` when any part of the path does not exist."""
    try:
        return jsonpointer.resolve_pointer(document, pointer, default=_MISSING)
    except jsonpointer.JsonPointerException:
        return _MISSING


def contains(actual: Any, expected: Any) -> bool:
    """Substring of a string, member of a list (a dict member matches as a subset), or a sub-dict."""
    if isinstance(actual, str) and isinstance(expected, str):
        return expected in actual
    if isinstance(actual, list):
        return any(item == expected or (isinstance(expected, dict) and is_subset(expected, item)) for item in actual)
    if isinstance(actual, dict) and isinstance(expected, dict):
        return is_subset(expected, actual)
    return False


def is_subset(expected: Any, actual: Any) -> bool:
    """Every key of `expected` is in `actual` with a matching value (recursively for nested objects)."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        return all(k in actual and is_subset(v, actual[k]) for k, v in expected.items())
    return expected == actual


# --------------------------------------------------------------------------- state


def _state_check(trace: Trace, assertion: StateAssertion, default_env: str | None) -> CheckResult:
    env_id = assertion.env or default_env
    kind = f"state_{assertion.kind}"
    where = f"{assertion.env}:{assertion.path}" if assertion.env else assertion.path
    if env_id is None or env_id not in trace.final_state:
        return CheckResult(kind=kind, passed=False, reason=f"{where}: no final state recorded for {env_id!r}")
    actual = resolve_pointer(trace.final_state[env_id], assertion.path)
    if assertion.kind == "absent":
        if actual is _MISSING:
            return CheckResult(kind=kind, passed=True, reason=f"{where} is absent")
        return CheckResult(kind=kind, passed=False, reason=f"{where} is {show(actual)}, expected it to be absent")
    if actual is _MISSING:
        wanted = show(assertion.equals) if assertion.kind == "equals" else f"to contain {show(assertion.contains)}"
        return CheckResult(kind=kind, passed=False, reason=f"{where} does not exist, expected {wanted}")
    if assertion.kind == "equals":
        passed = actual == assertion.equals
        reason = f"{where} is {show(actual)}" + ("" if passed else f", expected {show(assertion.equals)}")
        return CheckResult(kind=kind, passed=passed, reason=reason)
    passed = contains(actual, assertion.contains)
    verb = "contains" if passed else "does not contain"
    return CheckResult(kind=kind, passed=passed, reason=f"{where} {verb} {show(assertion.contains)}: {show(actual)}")


def _hash_check(trace: Trace, env_id: str, expected: str) -> CheckResult:
    if env_id not in trace.final_state:
        return CheckResult(kind="state_hash", passed=False, reason=f"no final state recorded for {env_id!r}")
    actual = stable_hash(trace.final_state[env_id])
    if actual == expected:
        return CheckResult(kind="state_hash", passed=True, reason=f"{env_id} final state hash is {actual[:12]}…")
    return CheckResult(
        kind="state_hash",
        passed=False,
        reason=f"{env_id} final state hash is {actual}, expected {expected}",
    )


# --------------------------------------------------------------------------- tool calls


def _matches(step: StepRecord, expectation: ToolCallExpectation) -> bool:
    if step.tool != expectation.name:
        return False
    if expectation.arguments is not None:
        if expectation.match == "exact" and step.arguments != expectation.arguments:
            return False
        if expectation.match == "subset" and not is_subset(expectation.arguments, step.arguments):
            return False
    outcome = "error" if expectation.error_contains is not None else expectation.outcome
    if outcome == "success" and step.error is not None:
        return False
    if outcome == "error":
        if step.error is None:
            return False
        if expectation.error_contains is not None and expectation.error_contains.lower() not in step.error.lower():
            return False
    return True


def _describe(expectation: ToolCallExpectation) -> str:
    text = expectation.name
    if expectation.arguments is not None:
        relation = "=" if expectation.match == "exact" else "⊇"
        text += f" with arguments {relation} {show(expectation.arguments)}"
    if expectation.error_contains is not None:
        text += f" failing with {expectation.error_contains!r}"
    elif expectation.outcome != "any":
        text += " succeeding" if expectation.outcome == "success" else " failing"
    return text


def _call_summary(step: StepRecord) -> str:
    result = f"error {show(step.error)}" if step.error is not None else "ok"
    return f"{step.tool}({show(step.arguments)}) -> {result}"


def _called_check(trace: Trace, expectation: ToolCallExpectation) -> CheckResult:
    matching = [s for s in trace.steps if _matches(s, expectation)]
    if matching:
        return CheckResult(kind="tool_called", passed=True, reason=f"called {_describe(expectation)}")
    same_tool = [s for s in trace.steps if s.tool == expectation.name]
    seen = "; ".join(_call_summary(s) for s in same_tool[:3]) if same_tool else "it was never called"
    return CheckResult(kind="tool_called", passed=False, reason=f"expected a call to {_describe(expectation)}; {seen}")


def _not_called_check(trace: Trace, expectation: ToolCallExpectation) -> CheckResult:
    matching = [s for s in trace.steps if _matches(s, expectation)]
    if not matching:
        return CheckResult(kind="tool_not_called", passed=True, reason=f"no call to {_describe(expectation)}")
    first = matching[0]
    return CheckResult(
        kind="tool_not_called",
        passed=False,
        reason=f"{_describe(expectation)} must not be called, but turn {first.turn} did: {_call_summary(first)}",
    )


def _count_check(trace: Trace, count: ToolCallCount) -> CheckResult:
    n = sum(1 for s in trace.steps if count.name is None or s.tool == count.name)
    what = f"calls to {count.name}" if count.name else "tool calls"
    bounds = []
    if count.equals is not None:
        bounds.append((n == count.equals, f"exactly {count.equals}"))
    if count.min is not None:
        bounds.append((n >= count.min, f"at least {count.min}"))
    if count.max is not None:
        bounds.append((n <= count.max, f"at most {count.max}"))
    failed = [text for ok, text in bounds if not ok]
    reason = f"{n} {what}" + (f", expected {' and '.join(failed)}" if failed else "")
    return CheckResult(kind="tool_call_count", passed=not failed, reason=reason)


def _no_tool_errors_check(trace: Trace) -> CheckResult:
    failed = [s for s in trace.steps if s.error is not None]
    if not failed:
        return CheckResult(kind="no_tool_errors", passed=True, reason=f"all {len(trace.steps)} tool calls succeeded")
    first = failed[0]
    return CheckResult(
        kind="no_tool_errors",
        passed=False,
        reason=f"{len(failed)} tool call(s) failed; first: turn {first.turn} {_call_summary(first)}",
    )


# --------------------------------------------------------------------------- communication


def assistant_text(trace: Trace) -> str:
    return "\n".join(m.content for m in trace.messages if m.role == "assistant" and m.content)


def _communicates_checks(trace: Trace, strings: list[str]) -> list[CheckResult]:
    text = assistant_text(trace).lower()
    results = []
    for wanted in strings:
        passed = wanted.lower() in text
        reason = f"the assistant {'said' if passed else 'never said'} {wanted!r}"
        results.append(CheckResult(kind="communicates", passed=passed, reason=reason))
    return results

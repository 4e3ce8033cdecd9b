"""The recorder's invariant, checkable by anyone from a trace alone.

For every environment: initial_state + its recorded patches (in step order) == final_state, and each step's
`state_hash` equals the hash of the state replayed up to that step.
"""

from __future__ import annotations

from typing import Any

from envsim.recording.trace import Trace

try:  # the environments' own helpers, so the recorder and the environments agree by construction
    from envsim.environments.state import apply_patch, hash_matches, state_hash
except ImportError:  # pragma: no cover - only while the environments package is incomplete
    import copy

    import jsonpatch

    from envsim.canonical import stable_hash as state_hash

    def apply_patch(state: Any, patch: Any) -> Any:
        return jsonpatch.JsonPatch(patch).apply(copy.deepcopy(state))

    def hash_matches(recorded: str, state: Any) -> bool:
        return recorded == state_hash(state)


def verify_trace(trace: Trace) -> list[str]:
    """Every way the trace breaks the invariant, as readable sentences; empty when it holds."""
    problems: list[str] = []
    states: dict[str, Any] = dict(trace.initial_state)
    broken: set[str] = set()  # environments whose replay already failed: later checks would only repeat it
    for index, step in enumerate(trace.steps):
        where = f"step {index} ({step.environment}.{step.tool}, call {step.call_id})"
        env = step.environment
        if step.patch:
            if step.error is not None:
                problems.append(f"{where}: failed with an error but recorded a state patch")
            if env not in states:
                problems.append(f"{where}: records a patch for an environment with no initial state")
                continue
            if env in broken:
                continue
            try:
                states[env] = apply_patch(states[env], step.patch)
            except Exception as exc:  # any library's patch failure means the same thing here
                problems.append(f"{where}: recorded patch does not apply to the replayed state ({exc})")
                broken.add(env)
                continue
        # The Merkle state hash, or the canonical sha256 older traces and custom environments record.
        recorded = step.state_hash
        if recorded is not None and env in states and env not in broken and not hash_matches(recorded, states[env]):
            expected = state_hash(states[env])
            problems.append(
                f"{where}: state_hash {recorded[:12]}… does not match the replayed state ({expected[:12]}…)"
            )
    for env in sorted(set(states) | set(trace.final_state)):
        if env in broken:
            continue
        if env not in trace.final_state:
            problems.append(f"environment {env}: has an initial state but no final state")
        elif env not in states:
            problems.append(f"environment {env}: has a final state but no initial state")
        elif states[env] != trace.final_state[env]:
            problems.append(f"environment {env}: initial state + recorded patches != final state")
    return problems

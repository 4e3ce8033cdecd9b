"""The recorder's invariant, checkable by anyone from a trace alone.

For every environment: initial_state + its recorded patches (in step order) == final_state, and each step's
`state_hash` equals the hash of the state replayed up to that step. For an environment whose initial state
a run directory holds by reference, the loaded final state is recomputed from the patches, so the
per-step hashes are what pin it.
"""

from __future__ import annotations

from typing import Any

# the environments' own hash, so the recorder and the environments agree by construction
from envsim.environments.state import hash_matches, state_hash
from envsim.recording.shared_patch import apply_patch_shared
from envsim.recording.trace import Trace


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
                # sharing unchanged subtrees: checking a trace costs what its patches touch
                states[env] = apply_patch_shared(states[env], step.patch)
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

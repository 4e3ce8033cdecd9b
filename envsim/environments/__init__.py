"""Environments: where tool calls run. `EnvironmentSet.build(...)` gives one conversation's instances.

Kinds: deterministic (lookup tables), synthetic (a model plays the tool; stateless or stateful) and
python (callables over a JSON state). State changes are JSON Patches under one rule: applied only if
they apply cleanly, validate against the state schema, and come from a tool that is not read-only.
"""

from envsim.environments.base import Environment, StepContext, StepResult
from envsim.environments.catalog import EnvironmentSet
from envsim.environments.deterministic import DeterministicEnvironment
from envsim.environments.python import PythonEnvironment
from envsim.environments.python_tools import ToolResult, tool
from envsim.environments.schema import fill_defaults, schema_errors
from envsim.environments.signature import tool_spec_from_function
from envsim.environments.state import (
    PatchError,
    apply_patch,
    canonical_sha256,
    diff_states,
    hash_matches,
    state_hash,
    validate_state,
)
from envsim.environments.synthetic import SyntheticEnvironment
from envsim.environments.synthetic_prompt import SyntheticReply
from envsim.environments.tracked_state import ReadOnlyStateError

__all__ = [
    "DeterministicEnvironment",
    "Environment",
    "EnvironmentSet",
    "PatchError",
    "PythonEnvironment",
    "ReadOnlyStateError",
    "StepContext",
    "StepResult",
    "SyntheticEnvironment",
    "SyntheticReply",
    "ToolResult",
    "apply_patch",
    "canonical_sha256",
    "diff_states",
    "fill_defaults",
    "hash_matches",
    "schema_errors",
    "state_hash",
    "tool",
    "tool_spec_from_function",
    "validate_state",
]

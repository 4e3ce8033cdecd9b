"""Grounding (oumi's `grounding:` on an environment): facts that exist in an environment, sampled per
conversation and shown to the planner and the user simulator, so conversations ask about records the
tools can find.

    grounding: {sample_size: 3, seed: 7, state: [{state_path: patients, fields: [patient_id, name]}]}
    grounding: {tools: {lookup_book_status: {fields: [book_id, title]}}}     # deterministic lookup rows

Pools, as oumi builds them: `tools` projects each lookup entry of the named tool (its input merged with
its output when that is an object) onto `fields`; `state` projects each record of the list at
`initial_state[state_path]` (for a database environment: each row of the table `state_path`). Every
environment in the conversation's scope contributes `min(sample_size, pool)` facts, drawn with
`Random(seed + sample_index)` when `seed` is set (oumi's rule) and from the episode seed otherwise
(oumi uses OS entropy there; envsim keeps runs reproducible). A fact renders as one line,
`- key="text", key=3`, like oumi's `describe_grounding_default`.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envsim.config.models import EnvironmentConfig, EnvironmentType, GroundingConfig
from envsim.errors import ConfigError

Fact = dict[str, Any]


@dataclass(frozen=True)
class GroundingPool:
    environment: str
    config: GroundingConfig
    facts: list[Fact]


def grounding_pools(
    environments: Sequence[EnvironmentConfig], scope: Sequence[str] | None, *, base_dir: Path | None = None
) -> list[GroundingPool]:
    """The fact pools of the grounded environments in `scope` (all environments when empty)."""
    pools = []
    for env in environments:
        if env.grounding is None or (scope and env.id not in scope):
            continue
        pools.append(GroundingPool(env.id, env.grounding, _facts(env, base_dir)))
    return pools


def _facts(env: EnvironmentConfig, base_dir: Path | None) -> list[Fact]:
    grounding = env.grounding
    assert grounding is not None
    facts: list[Fact] = []
    for tool in env.tools:
        entry = grounding.tools.get(tool.id)
        if entry is None:
            continue
        wanted = set(entry.fields)
        for row in tool.deterministic_outputs:
            merged = dict(row.input)
            if isinstance(row.output, dict):
                merged.update(row.output)
            facts.append({k: v for k, v in merged.items() if k in wanted})
    if grounding.state:
        records = _records(env, base_dir)
        for source in grounding.state:
            if source.state_path not in records:
                raise ConfigError(
                    f"environment {env.id!r}: grounding state_path {source.state_path!r} names no "
                    f"{'table' if env.type is EnvironmentType.DATABASE else 'key of the state'}",
                    location="grounding.state",
                    hint=f"known: {', '.join(sorted(records)) or '(none)'}",
                )
            wanted = set(source.fields)
            for record in records.get(source.state_path, []):
                if isinstance(record, dict):
                    facts.append({k: v for k, v in record.items() if k in wanted})
    return facts


def _records(env: EnvironmentConfig, base_dir: Path | None) -> Mapping[str, Any]:
    if env.type is EnvironmentType.DATABASE:
        from envsim.environments.database import database_template

        tables = database_template(env, base_dir).view["tables"]
        return {name: list(rows.values()) for name, rows in tables.items()}
    return env.state_params.initial_state if env.state_params is not None else {}


def sample_facts(pools: Sequence[GroundingPool], *, sample_index: int, episode_seed: int) -> list[Fact]:
    facts: list[Fact] = []
    for pool in pools:
        seed = pool.config.seed + sample_index if pool.config.seed is not None else episode_seed
        rng = random.Random(seed)
        facts += rng.sample(pool.facts, min(pool.config.sample_size, len(pool.facts)))
    return facts


def describe_facts(facts: Sequence[Fact]) -> str:
    """oumi's rendering: one `- key=value, ...` line per fact (strings JSON-quoted)."""
    lines = []
    for fact in facts:
        if fact:
            parts = [f"{k}={json.dumps(v) if isinstance(v, str) else v}" for k, v in fact.items()]
            lines.append("- " + ", ".join(parts))
    return "\n".join(lines)


PLANNER_GROUNDING = (
    "Ground this plan in these specific entities:\n{facts}\n"
    "Grounding rules: USER turn instructions may name concrete identifiers from this list (the user cannot "
    "see it otherwise). Treat the other fields as preconditions: when one contradicts the intent, plan how "
    "the conversation recovers. ASSISTANT turn instructions must not state tool results; say which tool "
    "the assistant should call to find them."
)
USER_GROUNDING = (
    "Records that exist in the system (you may refer to them the way a real user would; you have not "
    "seen the system's data beyond this):\n{facts}"
)


@dataclass(frozen=True)
class Grounding:
    """A run's grounding: `for_episode` gives one conversation's facts as text ('' when ungrounded)."""

    pools: list[GroundingPool]

    def for_episode(self, sample_index: int, episode_seed: int) -> str:
        return describe_facts(sample_facts(self.pools, sample_index=sample_index, episode_seed=episode_seed))

"""`manifest.json`: what a run was started with (config snapshot, hash, version, seed, models), no secrets.

The config hash decides whether a run directory may be resumed with a given config.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from envsim import redaction as _redaction
from envsim.canonical import stable_hash

# The redaction rules live in envsim.redaction (one layer for every output); re-exported for callers.
is_secret_key = _redaction.is_secret_key
redact_secrets = _redaction.redact_value
REDACTED = _redaction.REDACTED


def _envsim_version() -> str:
    from envsim import __version__

    return __version__


# How many samples a run has is not what it is: raising num_samples on an existing run directory extends
# it (finished episodes are kept), instead of being refused as a different config.
RUN_SIZE_KEYS = ("num_samples",)


def identity_hash(config: dict[str, Any]) -> str:
    return stable_hash({k: v for k, v in config.items() if k not in RUN_SIZE_KEYS})


class RunManifest(BaseModel):
    """Written once when a run directory is created; compared on every resume."""

    model_config = ConfigDict(extra="forbid")

    config: dict[str, Any]  # snapshot, secrets replaced by "***"
    config_hash: str  # identity_hash(config): the config without its run-size keys
    envsim_version: str
    seed: int
    models: dict[str, str] = Field(default_factory=dict)  # role -> model string
    created_at: str
    command_line: list[str] = Field(default_factory=list)

    @classmethod
    def create(
        cls,
        config: dict[str, Any] | BaseModel,
        *,
        seed: int,
        models: dict[str, str] | None = None,
        command_line: list[str] | None = None,
    ) -> RunManifest:
        """Snapshot a config (a dict or any pydantic model), redacting secrets before hashing or storing."""
        raw = config.model_dump(mode="json") if isinstance(config, BaseModel) else config
        argv = command_line if command_line is not None else sys.argv
        _redaction.register_secrets_in(raw)
        _redaction.register_argv(argv)
        snapshot = redact_secrets(raw)
        return cls(
            config=snapshot,
            config_hash=identity_hash(snapshot),
            envsim_version=_envsim_version(),
            seed=seed,
            models={role: _redaction.redact_text(m) for role, m in (models or {}).items()},
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            command_line=[_redaction.redact_text(a) for a in argv],
        )

    def differences(self, other: RunManifest) -> list[str]:
        """What makes `other` a different run: changed top-level config keys, seed, models. Empty = same run."""
        changed: list[str] = []
        if self.config_hash != other.config_hash:
            keys = sorted((set(self.config) | set(other.config)) - set(RUN_SIZE_KEYS))
            changed += [
                f"config.{k}"
                for k in keys
                if stable_hash(self.config.get(k, "<absent>")) != stable_hash(other.config.get(k, "<absent>"))
            ]
        if self.seed != other.seed:
            changed.append(f"seed ({self.seed} -> {other.seed})")
        if self.models != other.models:
            roles = sorted(set(self.models) | set(other.models))
            changed += [
                f"models.{r} ({self.models.get(r, '-')} -> {other.models.get(r, '-')})"
                for r in roles
                if self.models.get(r) != other.models.get(r)
            ]
        return changed

"""`manifest.json`: what a run was started with (config snapshot, hash, version, seed, models), no secrets.

The config hash decides whether a run directory may be resumed with a given config.
"""

from __future__ import annotations

import itertools
import re
import sys
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from envsim.canonical import stable_hash

REDACTED = "***"

# Key words that mark a secret. Keys are split into words (snake, kebab, camel case), so
# `max_new_tokens` or `tokens_per_minute` stay visible while `access_token`, `apiKey`, `db_password` do not.
_SECRET_WORDS = {"token", "secret", "password", "passwd", "apikey", "credential", "credentials", "authorization"}
_SECRET_PAIRS = {("api", "key"), ("private", "key"), ("access", "key"), ("secret", "key"), ("auth", "key")}
# Values that look like provider keys are redacted wherever they appear (e.g. pasted into a prompt field).
_SECRET_VALUE = re.compile(r"\b(sk-[A-Za-z0-9_\-]{16,}|sk-ant-[A-Za-z0-9_\-]{16,}|xox[bp]-[A-Za-z0-9\-]{10,})")
_URL_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.\-]*://)(?P<userinfo>[^/@\s]+)@")


def _key_words(key: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", key)
    return [w for w in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if w]


def is_secret_key(key: str) -> bool:
    words = _key_words(key)
    if any(w in _SECRET_WORDS for w in words):
        return True
    return any(pair in _SECRET_PAIRS for pair in itertools.pairwise(words))


def _redact_string(value: str) -> str:
    value = _SECRET_VALUE.sub(REDACTED, value)
    return _URL_USERINFO.sub(lambda m: f"{m.group('scheme')}{REDACTED}@", value)


def redact_secrets(value: Any) -> Any:
    """A copy of a JSON value with secret-named keys, key-like strings and URL credentials replaced by ***."""
    if isinstance(value, dict):
        return {
            k: (REDACTED if is_secret_key(str(k)) and v is not None else redact_secrets(v)) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact_secrets(v) for v in value]
    if isinstance(value, str):
        return _redact_string(value)
    return value


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
        snapshot = redact_secrets(raw)
        return cls(
            config=snapshot,
            config_hash=identity_hash(snapshot),
            envsim_version=_envsim_version(),
            seed=seed,
            models={role: _redact_string(m) for role, m in (models or {}).items()},
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            command_line=[_redact_string(a) for a in (command_line if command_line is not None else sys.argv)],
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

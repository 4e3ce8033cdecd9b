"""A run's config from what the caller gave: a file (with overrides) or a `SynthConfig`, with
`--num-samples` / `--seed` applied; a scenario catalog (or a config naming one) becomes a `ScenarioRun`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from envsim.config.loader import load_config
from envsim.config.models import MultiTurnAttribute, SynthConfig
from envsim.errors import ConfigError
from envsim.scenarios.live import ScenarioRun, is_scenario_catalog_file

ConfigSource = str | Path | SynthConfig


def prepare_config(
    config: ConfigSource, overrides: list[str] | None, num_samples: int | None, seed: int | None
) -> SynthConfig:
    """The loaded config with `num_samples` and `seed` applied (a given `SynthConfig` is not changed)."""
    if isinstance(config, SynthConfig):
        if overrides:
            raise ConfigError("overrides apply to config files", hint="change the SynthConfig object instead")
        loaded = config
    else:
        loaded = load_config(config, overrides)
    update: dict[str, Any] = {}
    if num_samples is not None:
        if num_samples < 1:
            raise ConfigError(f"--num-samples must be at least 1, got {num_samples}", hint="pass a positive number")
        update["num_samples"] = num_samples
    if seed is not None:
        update["seed"] = seed
    prepared = loaded.model_copy(update=update) if update else loaded
    prepared.source_path = loaded.source_path  # excluded field: keep it explicitly
    return prepared


def load_run_inputs(
    config: ConfigSource,
    *,
    overrides: list[str] | None,
    num_samples: int | None,
    seed: int | None,
    model_override: str | None,
    trials: int | None,
) -> tuple[SynthConfig, ScenarioRun | None]:
    """The run config, and the scenario run when the file is a scenario catalog (or a config naming one)."""
    if num_samples is not None and num_samples < 1:
        raise ConfigError(f"--num-samples must be at least 1, got {num_samples}", hint="pass a positive number")
    if not isinstance(config, SynthConfig) and is_scenario_catalog_file(config):
        live = ScenarioRun.from_catalog_file(config, overrides=overrides, model_override=model_override, seed=seed)
        return live.config, live
    cfg = prepare_config(config, overrides, num_samples, seed)
    if cfg.scenario_catalog_path is not None:
        return cfg, ScenarioRun.from_config(cfg)
    if trials is not None:
        raise ConfigError(
            "--trials applies to scenario runs, and this config has no scenario_catalog_path",
            file=cfg.source_path,
            hint="run a scenario catalog (or a config with scenario_catalog_path), or drop --trials",
        )
    return cfg, None


def the_conversation(config: SynthConfig) -> MultiTurnAttribute | None:
    """The one conversation a run simulates, or None for an attributes-only dataset."""
    conversations = config.strategy_params.multiturn_attributes
    where = "strategy_params.multiturn_attributes"
    if not conversations:
        return None
    if len(conversations) > 1:
        ids = ", ".join(c.id for c in conversations)
        raise ConfigError(
            f"the config has {len(conversations)} multi-turn attributes ({ids}); a run simulates one conversation",
            file=config.source_path,
            location=where,
            hint="keep one multi-turn attribute per config (split the others into their own configs)",
        )
    conversation = conversations[0]
    if conversation.min_turns > conversation.max_turns:
        raise ConfigError(
            f"min_turns ({conversation.min_turns}) is larger than max_turns ({conversation.max_turns})",
            file=config.source_path,
            location=f"{where}[0]",
            hint="make min_turns <= max_turns",
        )
    return conversation

"""A run, built once: `plan_run(config, ...)` resolves everything a run needs into a frozen `RunPlan`.

Building reads files (the config, a scenario catalog, grounding data) and checks the options, but
builds no model and calls none, and creates nothing on disk: a plan can be shown (`envsim run
--dry-run`), kept, and executed (`execute_plan`) any number of times. Worker processes receive the
plan itself, so every process simulates the same resolved config, never a re-read of the file.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from envsim.config.models import (
    BatchConfig,
    EnvironmentConfig,
    InferenceConfig,
    ModelSpec,
    MultiTurnAttribute,
    SynthConfig,
)
from envsim.config.paths import resolve_path
from envsim.errors import ConfigError
from envsim.models.registry import parse_model_string
from envsim.models.stack import DEFAULT_CACHE_DIR, ROLES
from envsim.runs.dataset import dataset_path
from envsim.runs.episodes import EpisodeSource, SampledEpisodes
from envsim.runs.inputs import ConfigSource, load_run_inputs, the_conversation
from envsim.scenarios.live import ScenarioRun
from envsim.simulation.grounding import Grounding, grounding_pools
from envsim.simulation.processes import split_evenly


@dataclass(frozen=True)
class RunPlan:
    """Everything one run needs, resolved; see the module docstring. Execute it with `execute_plan`."""

    config: SynthConfig  # overrides, --num-samples, --seed and --batch applied
    scenario_run: ScenarioRun | None  # scenario runs: the catalog whose expectations are checked
    conversation: MultiTurnAttribute | None  # None: an attributes-only dataset
    run_dir: Path
    episodes: EpisodeSource
    environments: tuple[EnvironmentConfig, ...]
    environments_dir: Path  # what the environments' relative paths resolve against
    config_dir: Path  # what the models' and attributes' relative paths resolve against
    grounding: Grounding | None  # oumi's grounding facts of the conversation's environments
    role_models: dict[str, str]  # role -> the model it calls, as the user named it (no secrets)
    model_override: str | None  # --model
    # Response cache (unless no_cache) and tool-output cache (`cache_by_input`); by default beside the run
    # directory, so the runs under one folder share it.
    cache_dir: Path
    no_cache: bool
    force: bool  # resume even though the config changed; take over another run's dataset file
    processes: int
    worker_slots: tuple[int, ...]  # open episodes per worker process (empty: simulated in this one)
    # One per worker process: the inference config with its share of num_workers and the rate budgets.
    worker_inference: tuple[InferenceConfig, ...]
    dataset: Path | None  # the seed's dataset file (output_path), or None
    include_scripted: bool = False  # scenario runs: scripted scenarios simulated live too
    trials: int = 1  # scenario runs: episodes per scenario

    @property
    def total(self) -> int:
        """Episodes the run directory holds once the run is done."""
        return len(self.episodes)

    @property
    def open_episodes(self) -> int:
        """Episodes simulated at once (`remote_params.num_workers`), over all processes."""
        return self.config.inference_config.remote_params.num_workers

    @property
    def batch(self) -> BatchConfig | None:
        batch = self.config.inference_config.batch
        return batch if batch is not None and batch.enabled else None

    @property
    def kind(self) -> str:
        if self.scenario_run is not None:
            return "scenario run"
        return "attributes only" if self.conversation is None else "conversations"

    def manifest_config(self) -> SynthConfig | dict[str, Any]:
        """What the run directory's manifest records and a resume compares."""
        return self.scenario_run.manifest_snapshot() if self.scenario_run else self.config


def plan_run(
    config: ConfigSource,
    *,
    out_dir: str | Path | None = None,
    model_override: str | None = None,
    overrides: list[str] | None = None,
    num_samples: int | None = None,
    seed: int | None = None,
    no_cache: bool = False,
    force: bool = False,
    trials: int | None = None,
    include_scripted: bool = False,
    processes: int | None = None,
    batch: bool = False,
) -> RunPlan:
    """Build the plan of a run; the options are `run_config`'s. Raises ConfigError(s) for bad configs
    and options, before anything is written or any model is built."""
    cfg, live = load_run_inputs(
        config, overrides=overrides, num_samples=num_samples, seed=seed, model_override=model_override, trials=trials
    )
    if batch and (cfg.inference_config.batch is None or not cfg.inference_config.batch.enabled):
        cfg = _with_batch(cfg)
        live = dataclasses.replace(live, config=cfg) if live else None
    count = process_count(cfg, processes)
    if count > 1 and cfg.inference_config.batch is not None and cfg.inference_config.batch.enabled:
        raise ConfigError(
            "batch mode runs in one process: its episodes wait for batches, they need no CPU",
            location="inference_config.batch",
            hint="drop --processes / remote_params.num_processes, or run online",
        )
    episodes: EpisodeSource
    if live:
        episodes = tuple(live.specs(trials or 1, include_scripted=include_scripted, limit=num_samples))
    else:
        episodes = SampledEpisodes(cfg.num_samples, cfg.seed)
    run_dir = Path(out_dir) if out_dir is not None else default_out_dir(cfg.source_path or "envsim-run")
    conversation = live.conversation if live else the_conversation(cfg)
    environments, environments_dir = (
        (tuple(live.catalog.environments), live.catalog.path.parent) if live else _environment_configs(cfg)
    )
    cache = cfg.inference_config.cache
    remote = cfg.inference_config.remote_params
    slots = tuple(split_evenly(remote.num_workers, count)) if count > 1 else ()
    return RunPlan(
        config=cfg,
        scenario_run=live,
        conversation=conversation,
        run_dir=run_dir,
        episodes=episodes,
        environments=environments,
        environments_dir=environments_dir,
        config_dir=_config_dir(cfg),
        grounding=_grounding(environments, conversation, environments_dir),
        role_models=role_model_names(cfg.inference_config, model_override),
        model_override=model_override,
        cache_dir=resolve_path(cfg, cache.path) if cache.path else run_dir.parent / DEFAULT_CACHE_DIR,
        no_cache=no_cache or not cache.enabled,
        force=force,
        processes=count,
        worker_slots=slots,
        worker_inference=tuple(_worker_share(cfg.inference_config, share, count) for share in slots),
        dataset=dataset_path(cfg),
        include_scripted=include_scripted,
        trials=trials or 1,
    )


def default_out_dir(config_path: str | Path) -> Path:
    """`runs/<config name>`: the run directory when no --out is given."""
    return Path("runs") / Path(config_path).stem


def process_count(config: SynthConfig, processes: int | None) -> int:
    """Worker processes for a run: `processes` (`--processes`) or `remote_params.num_processes`,
    never more than the open episodes (`num_workers`), as each process needs one."""
    if processes is not None and processes < 1:
        raise ConfigError(f"--processes must be at least 1, got {processes}", hint="pass --processes 1 or more")
    remote = config.inference_config.remote_params
    wanted = processes if processes is not None else remote.num_processes
    return max(1, min(wanted, remote.num_workers))


def role_model_names(inference: InferenceConfig, model_override: str | None) -> dict[str, str]:
    """Role -> the model it calls: `inference_config.roles.<role>`, else --model, else the default model
    (the choice `build_role_models` makes), shown without keys or URL credentials."""
    default = parse_model_string(model_override, location="--model").name if model_override else None
    names = {}
    for role in ROLES:
        spec: ModelSpec | None = getattr(inference.roles, role)
        names[role] = _model_name(spec) if spec is not None else default or _model_name(inference.model)
    return names


def _model_name(spec: ModelSpec) -> str:
    text = spec.model_name + (f" ({spec.engine})" if spec.engine else "")
    if spec.base_url:
        url = urlsplit(spec.base_url)
        text += f" at {url.hostname}{f':{url.port}' if url.port else ''}{url.path}"
    return text


def _with_batch(config: SynthConfig) -> SynthConfig:
    """`--batch`: the config with batch mode on (default settings), leaving the caller's object as it is."""
    inference = config.inference_config.model_copy(update={"batch": BatchConfig()})
    batched = config.model_copy(update={"inference_config": inference})
    batched.source_path = config.source_path  # excluded field: keep it explicitly
    return batched


def _worker_share(inference: InferenceConfig, slots: int, count: int) -> InferenceConfig:
    """One worker process's inference config: its open episodes and its share of each endpoint's rate
    budgets (requests and tokens per minute)."""
    remote = inference.remote_params
    share = remote.model_copy(
        update={
            "num_workers": slots,
            "requests_per_minute": remote.requests_per_minute / count if remote.requests_per_minute else None,
            "tokens_per_minute": remote.tokens_per_minute / count if remote.tokens_per_minute else None,
        }
    )
    return inference.model_copy(update={"remote_params": share})


def _environment_configs(config: SynthConfig) -> tuple[tuple[EnvironmentConfig, ...], Path]:
    catalog = config.environment_config
    if catalog is None:
        return (), _config_dir(config)
    source = getattr(catalog, "source_path", None) or config.source_path
    return tuple(catalog.environments), Path(source).parent if source else Path.cwd()


def _config_dir(config: SynthConfig) -> Path:
    return Path(config.source_path).parent if config.source_path else Path.cwd()


def _grounding(
    environments: tuple[EnvironmentConfig, ...], conversation: MultiTurnAttribute | None, base_dir: Path
) -> Grounding | None:
    """oumi's grounding facts of the conversation's environments, or None when none is grounded."""
    if conversation is None:
        return None
    pools = grounding_pools(environments, conversation.available_environments, base_dir=base_dir)
    return Grounding(pools) if pools else None

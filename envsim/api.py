"""Public entry points: run a config end to end.

    summary = envsim.api.run("examples/support.yaml", out_dir="runs/support")      # sync
    summary = await envsim.api.run_config(config, out_dir=..., num_samples=10)      # async

Wiring: config -> role models -> attribute pipeline -> environments -> episodes (Runner) -> run
directory -> the seed's dataset file at `output_path`. Re-running on the same `out_dir` resumes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from envsim.attributes.pipeline import AttributePipeline
from envsim.canonical import stable_hash
from envsim.config.loader import load_config
from envsim.config.models import BatchConfig, EnvironmentConfig, InferenceConfig, MultiTurnAttribute, SynthConfig
from envsim.config.paths import resolve_path
from envsim.environments.catalog import EnvironmentSet
from envsim.errors import ConfigError
from envsim.event_loop import run_async
from envsim.models.base import Usage
from envsim.models.stack import RoleModels, build_role_models, generation_params
from envsim.recording import RunDirectory, RunManifest, RunState, write_dataset
from envsim.recording.clean import infrastructure_error_episodes
from envsim.recording.dataset import DatasetReport
from envsim.recording.output_owner import check_output_owner, record_output_owner
from envsim.scenarios.evaluation import Evaluation
from envsim.scenarios.live import ScenarioRun, evaluate_run, is_scenario_catalog_file, write_evaluation
from envsim.simulation.episode import EpisodeDeps, EpisodeSpec, episode_id_for, simulate_episode
from envsim.simulation.grounding import Grounding, grounding_pools
from envsim.simulation.processes import ProcessPool, split_evenly
from envsim.simulation.runner import ProgressCallback, Runner, RunProgress
from envsim.topics.build import ensure_topic_models

CONVERSATION_ROLES = ("planner", "user", "assistant")


@dataclass
class RunSummary:
    """How a run went. Counts are for the whole run directory (earlier invocations included)."""

    run_dir: Path
    state: RunState
    total: int
    done: int
    failed: int
    skipped: int  # finished before this invocation (resume)
    elapsed_s: float
    usage: Usage
    usage_by_role: dict[str, Usage] = field(default_factory=dict)
    output_path: Path | None = None
    dataset_written: int = 0
    recent_errors: list[str] = field(default_factory=list)
    evaluation: Evaluation | None = None  # scenario runs: success per scenario and pass^k (evaluation.json)
    # Successful episodes with an infrastructure error (envsim or a model failed in a step): in no dataset.
    infrastructure_error_episodes: list[str] = field(default_factory=list)
    # Environment id -> why its state schema is validated in full rather than incrementally (docs/state.md)
    validation_fallbacks: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """A run succeeded when it completed and produced at least one successful episode."""
        return self.state is RunState.DONE and (self.done > 0 or self.total == 0)


def episode_seed(run_seed: int, sample_index: int, trial: int = 0) -> int:
    """Independent, reproducible per-episode seeds (not run_seed + i, which makes runs overlap)."""
    return int(stable_hash(["envsim-episode", run_seed, sample_index, trial])[:12], 16)


def default_out_dir(config_path: str | Path) -> Path:
    return Path("runs") / Path(config_path).stem


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


def _prepare_config(
    config: str | Path | SynthConfig, overrides: list[str] | None, num_samples: int | None, seed: int | None
) -> SynthConfig:
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


def _environment_configs(config: SynthConfig) -> tuple[list[EnvironmentConfig], Path]:
    catalog = config.environment_config
    if catalog is None:
        return [], _config_dir(config)
    source = getattr(catalog, "source_path", None) or config.source_path
    return list(catalog.environments), Path(source).parent if source else Path.cwd()


def _config_dir(config: SynthConfig) -> Path:
    return Path(config.source_path).parent if config.source_path else Path.cwd()


def _specs(config: SynthConfig) -> Iterator[EpisodeSpec]:
    for index in range(config.num_samples):
        yield EpisodeSpec(episode_id=episode_id_for(index), seed=episode_seed(config.seed, index), sample_index=index)


def _prepare(
    config: str | Path | SynthConfig,
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
    cfg = _prepare_config(config, overrides, num_samples, seed)
    if cfg.scenario_catalog_path is not None:
        return cfg, ScenarioRun.from_config(cfg)
    if trials is not None:
        raise ConfigError(
            "--trials applies to scenario runs, and this config has no scenario_catalog_path",
            file=cfg.source_path,
            hint="run a scenario catalog (or a config with scenario_catalog_path), or drop --trials",
        )
    return cfg, None


async def run_config(
    config: str | Path | SynthConfig,
    *,
    out_dir: str | Path | None = None,
    model_override: str | None = None,
    overrides: list[str] | None = None,
    num_samples: int | None = None,
    seed: int | None = None,
    no_cache: bool = False,
    force: bool = False,
    on_progress: ProgressCallback | None = None,
    status_interval_s: float = 2.0,
    trials: int | None = None,
    include_scripted: bool = False,
    processes: int | None = None,
    batch: bool = False,
) -> RunSummary:
    """Run (or resume) a config into `out_dir` and write its dataset file; see `RunSummary`.

    Scenario runs (a scenario catalog file, or a config with `scenario_catalog_path`): each unscripted
    scenario (every scenario with `include_scripted`) is simulated `trials` times (default 1), its `expect`
    evaluated into the trace's checks, and the scores written to `evaluation.json` and `RunSummary.evaluation`;
    `num_samples` then limits the run to the first N scenarios.

    Raises ConfigError(s) for config problems, RunError when `out_dir` belongs to a different config
    (unless `force`), ModelAuthError / CircuitOpenError when the run had to stop (status ERROR), and
    CancelledError when cancelled (status CANCELLED; run again to resume).

    `processes` (default `remote_params.num_processes`) > 1 simulates in that many worker processes,
    each with its share of the open episodes and rate budgets; this process records (same output).

    `batch` (or `inference_config.batch`) sends the model calls through the providers' batch APIs in
    waves (docs/batch.md): the same bytes out for the same replies, at the batch price.
    """
    started = time.perf_counter()
    cfg, live = _prepare(config, overrides, num_samples, seed, model_override, trials)
    if batch and (cfg.inference_config.batch is None or not cfg.inference_config.batch.enabled):
        cfg.inference_config.batch = BatchConfig()
    count = process_count(cfg, processes)
    if count > 1 and cfg.inference_config.batch is not None and cfg.inference_config.batch.enabled:
        raise ConfigError(
            "batch mode runs in one process: its episodes wait for batches, they need no CPU",
            location="inference_config.batch",
            hint="drop --processes / remote_params.num_processes, or run online",
        )
    specs = live.specs(trials or 1, include_scripted=include_scripted, limit=num_samples) if live else None
    if out_dir is None:
        out_dir = default_out_dir(cfg.source_path or "envsim-run")
    run_path = Path(out_dir)
    pool: ProcessPool | None = None
    try:
        if count > 1:
            worker_args = dict(
                config=config,
                out_dir=run_path,
                model_override=model_override,
                overrides=overrides,
                num_samples=num_samples,
                seed=seed,
                no_cache=no_cache,
                trials=trials,
            )
            slots = split_evenly(cfg.inference_config.remote_params.num_workers, count)
            pool = ProcessPool(_worker_simulation, worker_args, slots)
            if pool.start_method == "spawn":
                pool.start()  # first: the workers import and build their models while this process prepares
        sim = await _build_simulation(cfg, live, run_path, no_cache=no_cache, model_override=model_override)
        if pool is not None and not pool.started:
            sim.models.preload()  # imported once here, inherited by every forked worker
            pool.start()
        try:
            summary = await _run_episodes(
                cfg, live, specs, run_path, sim, pool, force=force, on_progress=on_progress, interval=status_interval_s
            )
        finally:
            await sim.aclose()
    finally:
        if pool is not None:
            await pool.aclose()
    summary.elapsed_s = time.perf_counter() - started
    return summary


async def _run_episodes(
    cfg: SynthConfig,
    live: ScenarioRun | None,
    specs: list[EpisodeSpec] | None,
    run_path: Path,
    sim: _Simulation,
    pool: ProcessPool | None,
    *,
    force: bool,
    on_progress: ProgressCallback | None,
    interval: float,
) -> RunSummary:
    """Record the run's episodes, simulated here (`sim`) or by the worker processes (`pool`)."""
    started = time.perf_counter()
    manifest = RunManifest.create(
        live.manifest_snapshot() if live else cfg,
        seed=cfg.seed,
        models={role: sim.models[role].name for role in (*CONVERSATION_ROLES, "environment")},
    )
    on_progress = _with_batch_notes(on_progress, sim.models)
    output = dataset_path(cfg)
    if output is not None:
        check_output_owner(output, run_path, force=force)  # before simulating anything
    with RunDirectory.open(run_path, manifest=manifest, force=force) as run_dir:
        runner = Runner(
            specs if specs is not None else _specs(cfg),
            pool.simulate if pool is not None else sim.simulate,
            run_dir,
            num_workers=cfg.inference_config.remote_params.num_workers,
            total=len(specs) if specs is not None else cfg.num_samples,
            post_process=live.check_expectations if live else None,
            on_progress=on_progress,
            status_interval_s=interval,
            usage=sim.models.tracker if pool is None else None,
        )
        try:
            progress = await runner.run()
        except asyncio.CancelledError:
            _write_dataset(cfg, run_dir)  # a cancelled run still leaves the dataset of its finished episodes
            raise
        report = _write_dataset(cfg, run_dir)
        infrastructure = (
            report.skipped_infrastructure if report else infrastructure_error_episodes(run_dir.traces(states=False))
        )
        status = run_dir.status()
        evaluation = None
        if live is not None and specs is not None:
            evaluation = evaluate_run(run_dir.traces(include_failed=True), specs)
            write_evaluation(run_path, evaluation)
    summary = _summary(run_path, status.state, cfg, progress, status.done, status.failed, started, report)
    if specs is not None:
        summary.total = len(specs)
    summary.evaluation = evaluation
    summary.infrastructure_error_episodes = infrastructure
    summary.validation_fallbacks = dict(sim.validation_fallbacks)
    return summary


def _with_batch_notes(on_progress: ProgressCallback | None, models: RoleModels) -> ProgressCallback | None:
    """Batch runs: the progress display also shows waves, rows and batch states."""
    from envsim.models.batch.waves import wave_models

    waves = [wave for stack in models.stacks for wave in wave_models(stack)]
    if on_progress is None or not waves:
        return on_progress

    def update(progress: RunProgress) -> None:
        progress.notes = [wave.stats.describe(wave.name) for wave in waves]
        on_progress(progress)

    return update


def process_count(config: SynthConfig, processes: int | None) -> int:
    """Worker processes for a run: `processes` (`--processes`) or `remote_params.num_processes`,
    never more than the open episodes (`num_workers`), as each process needs one."""
    if processes is not None and processes < 1:
        raise ConfigError(f"--processes must be at least 1, got {processes}", hint="pass --processes 1 or more")
    remote = config.inference_config.remote_params
    wanted = processes if processes is not None else remote.num_processes
    return max(1, min(wanted, remote.num_workers))


@dataclass
class _Simulation:
    """Everything one process needs to simulate episodes of a run: the role models and episode deps."""

    models: RoleModels
    deps: EpisodeDeps
    # Environment id -> why its state schema is validated in full, not incrementally (said once per run).
    validation_fallbacks: dict[str, str] = field(default_factory=dict)

    async def simulate(self, spec: EpisodeSpec) -> Any:
        try:
            return await simulate_episode(spec, self.deps)
        finally:
            self.models.episode_finished(spec.episode_id)

    async def aclose(self) -> None:
        await self.models.aclose()


async def _build_simulation(
    cfg: SynthConfig,
    live: ScenarioRun | None,
    run_path: Path,
    *,
    no_cache: bool,
    model_override: str | None,
    inference_config: InferenceConfig | None = None,
) -> _Simulation:
    """The run's models, attribute source and environments; fails fast on environment/tool errors.
    `inference_config` replaces the config's one for the models (a worker process's share of the budgets)."""
    conversation = live.conversation if live else the_conversation(cfg)
    base_dir = _config_dir(cfg)
    cache_setting = cfg.inference_config.cache
    cache_dir = resolve_path(cfg, cache_setting.path) if cache_setting.path else run_path.parent / ".envsim_cache"
    env_configs, env_base_dir = (
        (live.catalog.environments, live.catalog.path.parent) if live else _environment_configs(cfg)
    )
    params = generation_params(cfg.inference_config.generation)

    models = build_role_models(
        inference_config or cfg.inference_config,
        base_dir=base_dir,
        cache_dir=cache_dir,
        no_cache=no_cache or not cache_setting.enabled,
        model_override=model_override,
        batch_dir=run_path / "batch",
    )
    try:
        # Scenario runs take their attributes from the scenarios (ScenarioRun.attributes).
        if not live:  # topic trees/graphs the attributes draw from: built (or resumed) once per run
            await ensure_topic_models(cfg, models["attribute"], base_dir)
        attributes = None if live else AttributePipeline.from_config(cfg, model=models["attribute"], base_dir=base_dir)

        def build_environments(initial_states: Any) -> EnvironmentSet:
            return EnvironmentSet.build(
                env_configs,
                model=models["environment"],
                base_dir=env_base_dir,
                cache_dir=cache_dir / "tools",
                initial_states=dict(initial_states) if initial_states else None,
                only=conversation.available_environments if conversation else None,
                generation=params,
            )

        # Fail fast on environment and tool-selection errors instead of failing every episode.
        fallbacks: dict[str, str] = {}
        if conversation is not None:
            probe = build_environments(None)
            probe.tool_specs(list(conversation.available_tools) or None)
            fallbacks = probe.validation_fallbacks()

        async def sample_attributes(spec: EpisodeSpec) -> Any:
            if attributes is None:
                assert live is not None
                return live.attributes(dict(spec.attributes or {}))
            return await attributes.sample(spec.sample_index, cfg.seed, spec.episode_id)

        deps = EpisodeDeps(
            conversation=conversation,
            models=models,
            environments=build_environments,
            attributes=sample_attributes,
            params={role: params for role in CONVERSATION_ROLES},
            max_validation_attempts=cfg.inference_config.remote_params.max_validation_retries + 1,
            usage_of=models.tracker.episode,
            grounding=_grounding(env_configs, conversation, env_base_dir),
        )
    except BaseException:
        await models.aclose()
        raise
    return _Simulation(models, deps, fallbacks)


def _grounding(
    env_configs: list[EnvironmentConfig], conversation: MultiTurnAttribute | None, base_dir: Path
) -> Callable[[int, int], str] | None:
    """oumi's grounding facts of the conversation's environments, or None when none is grounded."""
    if conversation is None:
        return None
    pools = grounding_pools(env_configs, conversation.available_environments, base_dir=base_dir)
    return Grounding(pools).for_episode if pools else None


async def _worker_simulation(
    index: int,
    count: int,
    *,
    config: str | Path | SynthConfig,
    out_dir: Path,
    model_override: str | None,
    overrides: list[str] | None,
    num_samples: int | None,
    seed: int | None,
    no_cache: bool,
    trials: int | None,
) -> _Simulation:
    """Worker process `index` of `count`: the run's simulation with its share of the open episodes
    and of each endpoint's rate budgets (requests and tokens per minute)."""
    cfg, live = _prepare(config, overrides, num_samples, seed, model_override, trials)
    remote = cfg.inference_config.remote_params
    share = remote.model_copy(
        update={
            "num_workers": split_evenly(remote.num_workers, count)[index],
            "requests_per_minute": remote.requests_per_minute / count if remote.requests_per_minute else None,
            "tokens_per_minute": remote.tokens_per_minute / count if remote.tokens_per_minute else None,
        }
    )
    inference = cfg.inference_config.model_copy(update={"remote_params": share})
    return await _build_simulation(
        cfg, live, out_dir, no_cache=no_cache, model_override=model_override, inference_config=inference
    )


def dataset_path(config: SynthConfig) -> Path | None:
    """Where the dataset file goes: `output_path`, a relative one against the working directory (as oumi,
    whose format this is, resolves it), so two runs of one config from different places do not collide."""
    if not config.output_path:
        return None
    path = Path(config.output_path).expanduser()
    return path if path.is_absolute() else Path.cwd() / path


def _write_dataset(config: SynthConfig, run_dir: RunDirectory) -> DatasetReport | None:
    output = dataset_path(config)
    if output is None:
        return None
    output.parent.mkdir(parents=True, exist_ok=True)
    report = write_dataset(
        run_dir.traces(states=False), output, passthrough=config.strategy_params.passthrough_attributes
    )
    record_output_owner(output, run_dir.path)
    return report


def _summary(
    run_path: Path,
    state: RunState,
    config: SynthConfig,
    progress: RunProgress,
    done: int,
    failed: int,
    started: float,
    report: DatasetReport | None,
) -> RunSummary:
    return RunSummary(
        run_dir=run_path,
        state=state,
        total=config.num_samples,
        done=done,
        failed=failed,
        skipped=progress.skipped,
        elapsed_s=time.perf_counter() - started,
        usage=progress.usage,
        usage_by_role=dict(progress.usage_by_role),
        output_path=report.path if report else None,
        dataset_written=report.written if report else 0,
        recent_errors=list(progress.last_errors),
    )


def run(config: str | Path | SynthConfig, **kwargs: Any) -> RunSummary:
    """Synchronous `run_config` (same keyword arguments), for scripts and notebooks without a loop."""
    return run_async(run_config(config, **kwargs))

"""What one process needs to simulate a plan's episodes: the role models and the episode deps.

`build_simulation(plan)` is run once per process: in this one, and in each worker process of a
multi-process run (`worker_simulation`, the `ProcessPool` factory, with that worker's share of the
budgets). It builds the models, the topic models the attributes draw from, the attribute source and the
environment factory, and fails fast on environment and tool-selection errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from envsim.attributes.pipeline import AttributePipeline
from envsim.config.models import InferenceConfig
from envsim.environments.catalog import EnvironmentSet
from envsim.models.stack import RoleModels, build_role_models, generation_params
from envsim.recording.trace import Trace
from envsim.runs.plan import RunPlan
from envsim.simulation.episode import EpisodeDeps, EpisodeSpec, simulate_episode
from envsim.topics.build import ensure_topic_models

CONVERSATION_ROLES = ("planner", "user", "assistant")


@dataclass
class ProcessSimulation:
    """A process's simulator of a plan's episodes (a `WorkerSimulator` for the process pool)."""

    models: RoleModels
    deps: EpisodeDeps
    # Environment id -> why its state schema is validated in full, not incrementally (said once per run).
    validation_fallbacks: dict[str, str] = field(default_factory=dict)

    async def simulate(self, spec: EpisodeSpec) -> Trace:
        try:
            return await simulate_episode(spec, self.deps)
        finally:
            self.models.episode_finished(spec.episode_id)

    async def aclose(self) -> None:
        await self.models.aclose()


async def build_simulation(plan: RunPlan, inference_config: InferenceConfig | None = None) -> ProcessSimulation:
    """The plan's models, attribute source and environments. `inference_config` replaces the plan's one
    for the models (a worker process's share of the budgets)."""
    cfg = plan.config
    live = plan.scenario_run
    conversation = plan.conversation
    params = generation_params(cfg.inference_config.generation)
    models = build_role_models(
        inference_config or cfg.inference_config,
        base_dir=plan.config_dir,
        cache_dir=plan.cache_dir,
        no_cache=plan.no_cache,
        model_override=plan.model_override,
        batch_dir=plan.run_dir / "batch",
    )
    try:
        # Scenario runs take their attributes from the scenarios (ScenarioRun.attributes).
        if not live:  # topic trees/graphs the attributes draw from: built (or resumed) once per run
            await ensure_topic_models(cfg, models["attribute"], plan.config_dir)
        attributes = (
            None if live else AttributePipeline.from_config(cfg, model=models["attribute"], base_dir=plan.config_dir)
        )

        def build_environments(initial_states: Any) -> EnvironmentSet:
            return EnvironmentSet.build(
                plan.environments,
                model=models["environment"],
                base_dir=plan.environments_dir,
                cache_dir=plan.cache_dir / "tools",
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
            grounding=plan.grounding.for_episode if plan.grounding else None,
        )
    except BaseException:
        await models.aclose()
        raise
    return ProcessSimulation(models, deps, fallbacks)


async def worker_simulation(index: int, count: int, *, plan: RunPlan) -> ProcessSimulation:
    """Worker process `index` of `count` (the `ProcessPool` factory: module level, so it pickles by
    reference under "spawn"): the plan's simulation with this worker's share of the open episodes and of
    each endpoint's rate budgets."""
    if len(plan.worker_inference) != count:
        raise RuntimeError(f"the plan has {len(plan.worker_inference)} worker shares, the pool {count} workers")
    return await build_simulation(plan, plan.worker_inference[index])

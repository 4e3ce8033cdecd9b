"""A `RunPlan` as a table (`envsim run --dry-run`): what the run would do, before it does anything."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from envsim.errors import EnvsimError
from envsim.recording.manifest import RunManifest
from envsim.recording.run_dir import MANIFEST_FILE, RunDirectory, read_manifest
from envsim.runs.plan import RunPlan


def finished_episodes(plan: RunPlan) -> int | None:
    """How many of the plan's episodes its run directory already holds (None: a new run directory).
    Read-only: the directory is neither created nor locked."""
    if not (plan.run_dir / MANIFEST_FILE).is_file():
        return None
    finished = RunDirectory.open(plan.run_dir, manifest=None).finished_episode_ids()
    return sum(1 for spec in plan.episodes if spec.episode_id in finished)


def config_changes(plan: RunPlan) -> list[str]:
    """What makes the plan a different run from the one its run directory holds (config keys, seed), the
    reasons a run would refuse to resume without --force. Models are compared once a run has built them."""
    previous = read_manifest(plan.run_dir)
    planned = RunManifest.create(plan.manifest_config(), seed=plan.config.seed, models=previous.models, command_line=[])
    return previous.differences(planned)


def plan_view(plan: RunPlan) -> Table:
    """One row per decision the plan made (models by name only: no keys, no URL credentials)."""
    table = Table(
        title="run plan (dry run: nothing simulated, nothing written)", title_justify="left", show_header=False
    )
    table.add_column("what", style="bold")
    table.add_column("decision")
    for key, value in plan_rows(plan):
        table.add_row(Text(key), Text(value))
    return table


def plan_lines(plan: RunPlan) -> list[str]:
    """The plan as plain `what: decision` lines (for pipes and logs: never wrapped mid-word)."""
    return [f"{key}: {value}" for key, value in plan_rows(plan)]


def plan_rows(plan: RunPlan) -> list[tuple[str, str]]:
    """(what, decision) pairs, in the order a run makes them."""
    cfg = plan.config
    rows = [("config", cfg.source_path or "(a SynthConfig object)"), ("kind", plan.kind)]
    if plan.scenario_run is not None:
        scripted = ", scripted ones too" if plan.include_scripted else ""
        rows.append(("scenarios", f"{plan.scenario_run.catalog.path}, {plan.trials} trial(s) each{scripted}"))
    rows.append(("episodes", f"{plan.total} (seed {cfg.seed})"))
    rows.append(("run directory", f"{plan.run_dir} ({_run_dir_state(plan)})"))
    if plan.conversation is not None:
        conversation = plan.conversation
        scope = ", ".join(conversation.available_environments) or "all"
        rows.append(
            (
                "conversation",
                f"{conversation.id}: {conversation.min_turns}-{conversation.max_turns} turns, environments: {scope}",
            )
        )
    if plan.environments:
        rows.append(("environments", ", ".join(f"{env.id} ({env.type})" for env in plan.environments)))
    if plan.grounding is not None:
        rows.append(("grounding", ", ".join(f"{p.environment}: {len(p.facts)} facts" for p in plan.grounding.pools)))
    if len(set(plan.role_models.values())) == 1:
        rows.append(("models", f"{next(iter(plan.role_models.values()))} (every role)"))
    else:
        rows += [(f"model: {role}", model) for role, model in plan.role_models.items()]
    workers = f" ({', '.join(map(str, plan.worker_slots))} open episodes each)" if plan.worker_slots else ""
    rows.append(("processes", f"{plan.processes}{workers}"))
    rows.append(("open episodes", str(plan.open_episodes)))
    batch = plan.batch
    rows.append(("batch", f"on for {', '.join(batch.roles)}" if batch else "off (online calls)"))
    rows.append(("response cache", "off (--no-cache)" if plan.no_cache else str(plan.cache_dir)))
    rows.append(("dataset file", str(plan.dataset) if plan.dataset else "none (no output_path)"))
    return rows


def _run_dir_state(plan: RunPlan) -> str:
    try:
        finished = finished_episodes(plan)
        changes = config_changes(plan) if finished is not None else []
    except EnvsimError as exc:
        return f"unreadable: {exc.message}"
    if finished is None:
        return "new" if not plan.run_dir.exists() else "exists, not yet a run directory"
    if changes and not plan.force:
        return f"refused: started with a different config (changed: {', '.join(changes)}); --force resumes anyway"
    forced = " with --force" if changes else ""
    if finished >= plan.total:
        return f"all {plan.total} episodes finished{forced}: running it again changes nothing"
    return f"resumes{forced}: {finished} of {plan.total} episodes finished"

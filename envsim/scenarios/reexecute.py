"""Re-execute the recorded tool calls of a past run against today's environments, and report drift.

Regression testing for environment authors: a run directory records every tool call with its output,
error and state patch. This module rebuilds the environments from **today's files** (that is the point:
their authors changed them), starts each episode from the episode's *recorded* initial state, replays
the recorded calls one by one in recorded order, and reports every step whose output, error or state
patch differs: episode, turn, tool, call id, recorded vs now, and a compact diff.

Where today's environments come from:
- a run made by `envsim replay CATALOG`: the scenario catalog files named in its manifest (their
  current contents, and the environment catalogs they name today);
- any other run: the file given as `environments` (an environment catalog, a scenario catalog or a
  run config), since a run's manifest only has a snapshot, not a reliable path to today's files.

Synthetic tools are answered from the recorded step (its output and patch), so their replies are
checked against today's schemas and state rule without calling a model.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from envsim.canonical import canonical_json
from envsim.config.loader import is_catalog_document, load_config, load_environment_catalog
from envsim.config.models import EnvironmentConfig, EnvironmentType
from envsim.config.yaml_source import read_yaml
from envsim.environments.base import StepContext
from envsim.environments.catalog import EnvironmentSet
from envsim.environments.json_diff import json_diff
from envsim.environments.shared_states import IdentityCache
from envsim.environments.state import PatchError, apply_patch
from envsim.errors import ConfigError, EnvsimError, RunError
from envsim.messages import FunctionCall, ToolCall
from envsim.recording import RunDirectory
from envsim.recording.shared_patch import apply_patch_shared
from envsim.recording.trace import StepRecord, Trace
from envsim.scenarios.catalog import LoadedCatalog, _absolute_handlers, load_catalog
from envsim.scenarios.replay import RecordedToolModel, tool_parameters, without_tool_cache

_SHOWN = 200


@dataclass(frozen=True)
class StepDifference:
    episode_id: str
    turn: int
    tool: str
    call_id: str
    field: str  # output | error | patch | environment
    recorded: Any
    now: Any
    diff: str  # compact: JSON Patch from recorded to now, or "a -> b"


@dataclass
class ReexecutionReport:
    run_dir: Path
    episodes: int = 0
    steps: int = 0
    differences: list[StepDifference] = field(default_factory=list)
    source: str = ""  # where today's environments came from

    @property
    def changed(self) -> bool:
        return bool(self.differences)


# --------------------------------------------------------------------------- today's environments


def environments_from_run(run_dir: RunDirectory) -> tuple[list[EnvironmentConfig], str]:
    """Today's environments of a replay run, from the (current) scenario catalogs its manifest names."""
    snapshot = run_dir.manifest.config
    if snapshot.get("kind") != "scenario_replay":
        raise RunError(
            f"{run_dir.path} was not made by `envsim replay CATALOG`, so it does not say where today's "
            "environment files are",
            hint="name them: envsim replay RUN_DIR --environments path/to/catalog.yaml (an environment catalog, "
            "a scenario catalog or a run config)",
        )
    environments: list[EnvironmentConfig] = []
    paths = []
    for entry in snapshot.get("scenario_catalogs", []):
        path = Path(entry["path"])
        if not path.is_file():
            raise RunError(
                f"the run's scenario catalog {path} no longer exists",
                hint="pass --environments to name today's environment catalog",
            )
        loaded: LoadedCatalog = load_catalog(path)
        known = {e.id for e in environments}
        environments += [e for e in loaded.environments if e.id not in known]
        paths.append(str(path))
    return environments, ", ".join(paths)


def environments_from_file(path: str | Path) -> list[EnvironmentConfig]:
    """Environments of an environment catalog, a scenario catalog, or a run config (today's version)."""
    p = Path(path)
    data = read_yaml(p).data
    if is_catalog_document(data):
        catalog = load_environment_catalog(p)
        return [_absolute_handlers(e, p.parent.resolve()) for e in catalog.environments]
    if isinstance(data, dict) and "scenarios" in data:
        return load_catalog(p).environments
    config = load_config(p)
    if config.environment_config is None:
        raise ConfigError("the config defines no environments", file=str(p))
    source = config.environment_config.source_path or config.source_path or str(p)
    base = Path(source).parent.resolve()
    return [_absolute_handlers(e, base) for e in config.environment_config.environments]


# --------------------------------------------------------------------------- re-execution


def _call_of(step: StepRecord) -> ToolCall:
    arguments = step.arguments
    raw = arguments if isinstance(arguments, str) else json.dumps(arguments if arguments is not None else {})
    return ToolCall(id=step.call_id, function=FunctionCall(name=step.tool, arguments=raw))


def compact_diff(recorded: Any, now: Any) -> str:
    """A short description of how `now` differs from `recorded`: JSON Patch ops for containers."""
    if isinstance(recorded, dict | list) and isinstance(now, type(recorded)):
        ops = json_diff(recorded, now)
        shown = json.dumps(ops[:5], ensure_ascii=False, sort_keys=True)
        more = f" (+{len(ops) - 5} more ops)" if len(ops) > 5 else ""
        return _clip(shown) + more
    return f"{_clip(json.dumps(recorded, ensure_ascii=False))} -> {_clip(json.dumps(now, ensure_ascii=False))}"


def patch_diff(recorded: list[dict[str, Any]], now: list[dict[str, Any]]) -> str:
    """Operations only one side has (order-insensitive), e.g. "recorded only: add /orders/#W1/x = 1"."""
    recorded_ops = {canonical_json(op): op for op in recorded}
    now_ops = {canonical_json(op): op for op in now}

    def describe(ops: list[dict[str, Any]]) -> str:
        if not ops:
            return "(none)"
        parts = []
        for op in ops[:4]:
            value = f" = {_clip(json.dumps(op['value'], ensure_ascii=False))}" if "value" in op else ""
            parts.append(f"{op.get('op')} {op.get('path')}{value}")
        return "; ".join(parts) + (f" (+{len(ops) - 4} more)" if len(ops) > 4 else "")

    only_recorded = [op for key, op in recorded_ops.items() if key not in now_ops]
    only_now = [op for key, op in now_ops.items() if key not in recorded_ops]
    return f"recorded only: {describe(only_recorded)} | now only: {describe(only_now)}"


def _clip(text: str) -> str:
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


def _same_patch(before: Any, recorded: Any, now: Any) -> bool:
    """Patches are the same when they have the same effect on the (recorded) state the step started from
    (the op order of a diff is not significant, and jsonpatch's varies between processes)."""
    if json.dumps(recorded, sort_keys=True) == json.dumps(now, sort_keys=True):
        return True
    if before is None:
        return False
    try:
        return apply_patch(before, recorded) == apply_patch(before, now)
    except PatchError:
        return False


def _differences(
    trace: Trace, step: StepRecord, before: Any, now_output: Any, now_error: str | None, now_patch: Any
) -> list[StepDifference]:
    found = []
    for name, recorded, now in (
        ("error", step.error, now_error),
        ("output", step.output, now_output),
        ("patch", step.patch, now_patch),
    ):
        same = (
            _same_patch(before, recorded, now)
            if name == "patch"
            else json.dumps(recorded, sort_keys=True) == json.dumps(now, sort_keys=True)
        )
        if not same:
            lists = isinstance(recorded, list) and isinstance(now, list)
            diff = patch_diff(recorded, now) if name == "patch" and lists else compact_diff(recorded, now)
            found.append(
                StepDifference(trace.episode_id, step.turn, step.tool, step.call_id, name, recorded, now, diff)
            )
    return found


async def reexecute_trace(trace: Trace, environments: list[EnvironmentConfig]) -> tuple[int, list[StepDifference]]:
    """Re-run one episode's steps from its recorded initial state; returns (steps run, differences)."""
    replies = RecordedToolModel(where=f"episode {trace.episode_id}", parameters=tool_parameters(environments))
    for step in trace.steps:
        if step.output is not None or step.patch:
            replies.add(step.tool, step.arguments, step.output, step.patch)
    try:
        envs = EnvironmentSet.build(
            without_tool_cache(environments), model=replies, initial_states=_start_states(trace, environments)
        )
    except EnvsimError as exc:
        problem = StepDifference(trace.episode_id, 0, "", "", "environment", None, None, exc.render())
        return 0, [problem]
    differences: list[StepDifference] = []
    # The recorded state before each step (initial + recorded patches, sharing unchanged parts): what a
    # step's patches are compared on, without copying the live state per step.
    recorded: dict[str, Any] = dict(trace.initial_state)
    for step in trace.steps:
        owner = envs.environment_of(step.tool)
        if owner is not None and owner.kind == "synthetic" and step.error is not None and step.output is None:
            # A rejected simulated reply is not recorded, so it cannot be re-played; errors change no state.
            continue
        context = StepContext(episode_id=trace.episode_id, turn=step.turn)
        before = recorded.get(owner.id) if owner is not None and owner.stateful else None
        try:
            result = await envs.step(_call_of(step), context)
            output, error, patch = result.output, result.error, result.patch
        except EnvsimError as exc:  # e.g. a synthetic tool that now needs a reply nobody recorded
            output, error, patch = None, f"{type(exc).__name__}: {exc.render()}", []
        differences += _differences(trace, step, before, output, error, patch)
        if before is not None and owner is not None and step.patch and step.error is None:
            try:
                recorded[owner.id] = apply_patch_shared(before, step.patch)
            except PatchError:
                recorded.pop(owner.id)  # a corrupt trace (verify_trace says so): compare patches as text
    return len(trace.steps), differences


# The sha256 of each catalog's initial state (its canonical JSON), computed once per config and process.
_CATALOG_STATES: IdentityCache[str] = IdentityCache(16)


def _start_states(trace: Trace, environments: list[EnvironmentConfig]) -> dict[str, Any]:
    """Each environment's recorded initial state, as an override for today's environments. A trace that
    refers to the very state the catalog has today starts from it plus the recorded override patch (no
    copy, hash or validation of the whole state per episode); otherwise the recorded state in full."""
    overrides: dict[str, Any] = {}
    for config in environments:
        if config.id not in trace.initial_state:
            continue
        ref = trace.state_refs.get(config.id)
        state = config.state_params.initial_state if config.state_params is not None else None
        if ref is not None and state is not None and config.type is not EnvironmentType.DATABASE:
            sha = _CATALOG_STATES.get(state, functools.partial(_content_sha256, state))
            if sha == ref.sha256:
                overrides[config.id] = ref.patch  # [] starts from the catalog's state itself
                continue
        overrides[config.id] = trace.initial_state[config.id]
    return overrides


def _content_sha256(state: Any) -> str:
    """The name a run directory's state store gives `state` (the sha256 of its canonical JSON)."""
    return hashlib.sha256(canonical_json(state).encode("utf-8")).hexdigest()


async def reexecute_run(run_path: str | Path, *, environments_path: str | Path | None = None) -> ReexecutionReport:
    """Re-execute every episode of a run directory (successful and failed ones) against today's environments."""
    run_dir = RunDirectory.open(run_path, manifest=None)
    if environments_path is not None:
        environments, source = environments_from_file(environments_path), str(environments_path)
    else:
        environments, source = environments_from_run(run_dir)
    report = ReexecutionReport(run_dir=Path(run_path), source=source)
    for trace in run_dir.traces(include_failed=True):
        steps, differences = await reexecute_trace(trace, environments)
        report.episodes += 1
        report.steps += steps
        report.differences += differences
    return report

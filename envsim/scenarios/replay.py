"""Offline replay of scripted scenarios: the script's conversation, run through the real environments.

Each scripted user message and assistant turn becomes messages; every tool call runs through fresh
environments (with the scenario's initial-state overrides) via `execute_tool_calls`, exactly as in a
live run, so the Trace has the same shape: messages, tool specs, steps with patches and state hashes,
initial and final states, termination `script_end`. Then the scenario's expectations are evaluated into
`trace.checks`.

Pass/fail: the trace `status` says whether the episode *ran* (success, or failed when an environment
broke); whether the scenario *passed* lives in `trace.checks` (see `evaluation.trace_passed`). A tool
error is not an episode failure: refusals are legitimate scenarios.

Synthetic tools take their reply from the script (`output`, and `patch` for stateful environments); a
call without one goes to the catalog's configured model, and when there is none the replay refuses to
start, naming the scenario, the script step and the fix.
"""

from __future__ import annotations

import json
import shutil
from collections import defaultdict, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from envsim.attributes.pipeline import SampleAttributes
from envsim.canonical import canonical_json, stable_hash
from envsim.config.models import EnvironmentConfig, EnvironmentType
from envsim.environments.base import StepContext
from envsim.environments.catalog import EnvironmentSet
from envsim.environments.schema import fill_defaults
from envsim.environments.synthetic_prompt import called_tool
from envsim.errors import ConfigError, ConfigErrors, EnvsimError, RunError
from envsim.messages import Message, ToolCall
from envsim.models.base import ChatModel, ModelRequest, ModelResponse, Usage
from envsim.recording import RunDirectory, RunManifest
from envsim.recording.trace import EpisodeStatus, TerminationReason, Trace
from envsim.scenarios.catalog import LoadedCatalog, Scenario, ScriptToolCall, default_state_env, load_catalogs
from envsim.scenarios.evaluation import failure_reason, trace_passed
from envsim.scenarios.expectations import evaluate_expectations
from envsim.simulation.runner import Runner
from envsim.simulation.tool_execution import EnvironmentStepError, execute_tool_calls

REPLAY_CONVERSATION_ID = "scenario"
_ARGUMENTS_MARKER = "Call arguments:\n"


# --------------------------------------------------------------------------- synthetic tool replies


class RecordedToolModel(ChatModel):
    """Plays synthetic tools from recorded replies: `(tool, arguments) -> {output, patch}`.

    Replies are matched by tool name and canonical arguments, in order (the same call twice takes the
    next recorded reply); a call with no recorded reply goes to `fallback`, or fails with a message
    saying where the reply should come from.
    """

    name = "recorded-tool-replies"

    def __init__(
        self,
        fallback: ChatModel | None = None,
        *,
        where: str = "this replay",
        parameters: Mapping[str, dict[str, Any]] | None = None,
    ) -> None:
        self.fallback = fallback
        self.where = where
        self.parameters = dict(parameters or {})  # tool -> parameters schema, to fill defaults like the env does
        self._replies: dict[tuple[str, str], deque[dict[str, Any]]] = defaultdict(deque)
        self._last: dict[tuple[str, str], dict[str, Any]] = {}

    def _key(self, tool: str, arguments: Any) -> tuple[str, str]:
        schema = self.parameters.get(tool)
        if schema is not None and isinstance(arguments, dict):
            arguments = fill_defaults(schema, arguments)
        return tool, canonical_json(arguments)

    def add(self, tool: str, arguments: Any, output: Any, patch: list[dict[str, Any]] | None) -> None:
        self._replies[self._key(tool, arguments)].append({"output": output, "patch": patch or []})

    async def generate(self, request: ModelRequest) -> ModelResponse:
        tool, arguments = _tool_call_of(request)
        key = self._key(tool, arguments) if tool is not None else None
        reply = None
        if key is not None:
            queue = self._replies.get(key)
            if queue:
                reply = self._last[key] = queue.popleft()
            elif len(request.messages) > 2 and key in self._last:
                # The environment rejected the reply and re-asks: the recorded backend says the same again.
                reply = self._last[key]
        if reply is not None:
            message = Message.assistant(json.dumps(reply, ensure_ascii=False))
            return ModelResponse(message=message, finish_reason="stop", usage=Usage(), model=self.name)
        if self.fallback is not None:
            return await self.fallback.generate(request)
        raise ConfigError(
            f"{self.where}: the synthetic tool {tool!r} was called with {canonical_json(arguments)} but there is "
            "no recorded reply for it and no model to simulate it",
            hint="add `output:` (and `patch:` for a stateful environment) to the scripted call, or give the "
            "catalog an inference_config so a model plays the tool",
        )


def tool_parameters(environments: Sequence[EnvironmentConfig]) -> dict[str, dict[str, Any]]:
    return {t.id: t.parameters for e in environments for t in e.tools}


def _tool_call_of(request: ModelRequest) -> tuple[str | None, Any]:
    """Tool name and arguments of a synthetic environment's request (see environments.synthetic_prompt)."""
    tool = called_tool(request.messages)
    user = next((m.content or "" for m in request.messages if m.role == "user"), "")
    arguments: Any = None
    if _ARGUMENTS_MARKER in user:
        try:
            arguments = json.loads(user.rsplit(_ARGUMENTS_MARKER, 1)[1])
        except json.JSONDecodeError:
            arguments = None
    return tool, arguments


# --------------------------------------------------------------------------- one scenario


def call_id(entry: int, round_: int, index: int) -> str:
    """Deterministic tool-call ids: same script, same bytes out."""
    return f"call_{entry}_{round_}_{index}"


def _tool_call(call: ScriptToolCall, entry: int, round_: int, index: int) -> ToolCall:
    return ToolCall.make(call.name, call.arguments, id=call.id or call_id(entry, round_, index))


def _synthetic_tools(loaded: LoadedCatalog) -> set[str]:
    return {t.id for e in loaded.environments if e.type is EnvironmentType.SYNTHETIC for t in e.tools}


def missing_replies(loaded: LoadedCatalog, scenario: Scenario) -> list[str]:
    """Where a synthetic tool call of the script has no recorded reply (so it would need a model)."""
    synthetic = _synthetic_tools(loaded)
    missing = []
    for j, entry in enumerate(scenario.script or []):
        if entry.assistant is None:
            continue
        for r, calls in enumerate(entry.assistant.tool_rounds()):
            for k, call in enumerate(calls):
                if call.name in synthetic and not call.has_recorded_reply:
                    missing.append(f"script[{j}] round {r + 1} call {k} ({call.name})")
    return missing


def without_tool_cache(environments: Sequence[EnvironmentConfig]) -> list[EnvironmentConfig]:
    """Replays answer synthetic tools from the script: a `cache_by_input` store would serve an
    earlier reply instead of the one the script holds now."""
    return [e.model_copy(update={"cache_by_input": False}) for e in environments]


def episode_seed(catalog_seed: int, index: int) -> int:
    return int(stable_hash(["envsim-scenario", catalog_seed, index])[:12], 16)


async def replay_scenario(
    loaded: LoadedCatalog,
    scenario: Scenario,
    *,
    sample_index: int = 0,
    episode_id: str | None = None,
    model: ChatModel | None = None,
) -> Trace:
    """Replay one scripted scenario and evaluate its expectations (in `trace.checks`)."""
    if not scenario.script:
        raise ConfigError(f"scenario {scenario.id!r} has no script to replay", file=str(loaded.path))
    replies = RecordedToolModel(
        model, where=f"{loaded.path}: scenario {scenario.id!r}", parameters=tool_parameters(loaded.environments)
    )
    for entry in scenario.script:
        for calls in entry.assistant.tool_rounds() if entry.assistant else []:
            for call in calls:
                if call.has_recorded_reply:
                    replies.add(call.name, call.arguments, call.output, call.patch)

    envs = EnvironmentSet.build(
        without_tool_cache(loaded.environments),
        model=replies,
        initial_states=loaded.initial_states(scenario) or None,
    )
    attributes = SampleAttributes.from_values(scenario.attributes)
    episode_id = episode_id or scenario.id
    messages: list[Message] = []
    multiturn = loaded.catalog.multiturn
    if multiturn is not None and multiturn.output_system_prompt:
        messages.append(Message.system(attributes.render(multiturn.output_system_prompt).strip()))

    trace = Trace(
        episode_id=episode_id,
        scenario_id=scenario.id,
        sample_index=sample_index,
        seed=scenario.seed if scenario.seed is not None else episode_seed(loaded.catalog.seed, sample_index),
        attributes=attributes.values,
        conversation_id=multiturn.id if multiturn is not None else REPLAY_CONVERSATION_ID,
        tools=envs.tool_specs(),
        initial_state=envs.initial_states(),  # read-only views, no copies (see envsim.recording.trace)
        termination=TerminationReason.SCRIPT_END,
    )
    trace.set_state_origins(envs.state_origins())
    turn = 0
    try:
        for j, entry in enumerate(scenario.script):
            if entry.user is not None:
                turn += 1
                messages.append(Message.user(entry.user))
                continue
            assert entry.assistant is not None
            for r, calls in enumerate(entry.assistant.tool_rounds(), start=1):
                tool_calls = [_tool_call(c, j, r, k) for k, c in enumerate(calls)]
                messages.append(Message.assistant(None, tool_calls))
                context = StepContext(episode_id=episode_id, history=list(messages))
                tool_messages, records = await execute_tool_calls(
                    envs, tool_calls, turn=max(turn, 1), round=r, context=context
                )
                messages.extend(tool_messages)
                trace.steps.extend(records)
            if entry.assistant.text is not None:
                messages.append(Message.assistant(entry.assistant.text))
    except EnvironmentStepError as exc:
        trace.status = EpisodeStatus.FAILED
        trace.termination = TerminationReason.ENVIRONMENT_ERROR
        trace.error = exc.render()
    # Assigned at the end: pydantic copies lists given to the constructor.
    trace.messages = messages
    trace.turns = turn
    trace.final_state = envs.committed_states()
    if envs.usage != Usage():
        trace.usage = {"environment": envs.usage}
    trace.checks = evaluate_expectations(trace, scenario.expect, default_env=default_state_env(loaded))
    return trace


# --------------------------------------------------------------------------- whole catalogs


@dataclass(frozen=True)
class ReplayItem:
    loaded: LoadedCatalog
    scenario: Scenario
    sample_index: int

    @property
    def episode_id(self) -> str:
        return self.scenario.id


@dataclass
class ScenarioOutcome:
    scenario_id: str
    catalog: Path
    passed: bool
    checks: int
    failures: list[str]  # failed checks (or the episode error), one line each


@dataclass
class ReplayReport:
    run_dir: Path
    outcomes: list[ScenarioOutcome]
    unscripted: list[str] = field(default_factory=list)  # scenarios without a script (live runs only)

    @property
    def passed(self) -> bool:
        return all(o.passed for o in self.outcomes)

    @property
    def failed(self) -> list[ScenarioOutcome]:
        return [o for o in self.outcomes if not o.passed]


def replay_manifest(catalogs: Sequence[LoadedCatalog]) -> RunManifest:
    """The run's snapshot: catalog files (absolute paths, so `envsim replay RUN_DIR` can find today's
    versions), their contents and the environments they resolved to."""
    snapshot = {
        "kind": "scenario_replay",
        "scenario_catalogs": [
            {
                "path": str(c.path.resolve()),
                "catalog": c.catalog.model_dump(mode="json"),
                "environments": [e.model_dump(mode="json") for e in c.environments],
            }
            for c in catalogs
        ],
    }
    return RunManifest.create(snapshot, seed=0, models={})


def _replay_items(catalogs: Sequence[LoadedCatalog]) -> tuple[list[ReplayItem], list[str]]:
    items, unscripted = [], []
    for loaded in catalogs:
        for scenario in loaded.scenarios:
            if scenario.scripted:
                items.append(ReplayItem(loaded, scenario, len(items)))
            else:
                unscripted.append(scenario.id)
    return items, unscripted


def _check_replies(items: Sequence[ReplayItem], models: Mapping[Path, ChatModel | None]) -> None:
    errors = []
    for item in items:
        if models.get(item.loaded.path) is not None:
            continue
        for where in missing_replies(item.loaded, item.scenario):
            index = item.loaded.scenarios.index(item.scenario)
            errors.append(
                ConfigError(
                    f"scenario {item.scenario.id!r}, {where}: a synthetic tool call without a recorded reply, "
                    "and the catalog has no inference_config to simulate it",
                    file=str(item.loaded.path),
                    location=f"scenarios[{index}].script",
                    hint="add `output:` (and `patch:` for stateful environments) to the call, or add an "
                    "inference_config to the catalog",
                )
            )
    if errors:
        raise ConfigErrors(errors)


def clear_replay_dir(out: Path) -> None:
    """A replay is a deterministic reproduction, so an earlier replay in `out` is simply replaced.
    Anything else there (a live run, other files) is never touched."""
    manifest = out / "manifest.json"
    if not manifest.is_file():
        return
    try:
        kind = json.loads(manifest.read_text(encoding="utf-8")).get("config", {}).get("kind")
    except (OSError, json.JSONDecodeError, AttributeError):
        kind = None
    if kind != "scenario_replay":
        raise RunError(
            f"{out} holds a run that is not a scenario replay; replaying into it would mix the two",
            hint="choose another --out",
        )
    shutil.rmtree(out)


async def replay_catalogs(
    path: str | Path,
    out_dir: str | Path,
    *,
    num_workers: int = 8,
) -> ReplayReport:
    """Replay every scripted scenario of a catalog file (or a directory of them) into a run directory.

    An earlier replay in `out_dir` is replaced; any other run there makes this refuse (RunError)."""
    catalogs = load_catalogs(path)
    items, unscripted = _replay_items(catalogs)
    if not items:
        raise ConfigError(
            "no scripted scenarios to replay" + (f" ({len(unscripted)} without a script)" if unscripted else ""),
            file=str(path),
            hint="add a `script:` to a scenario, or run unscripted scenarios live with `envsim run`",
        )
    models, closers = _synthetic_models(catalogs, items)
    try:
        _check_replies(items, models)
        out = Path(out_dir)
        clear_replay_dir(out)

        async def simulate(item: ReplayItem) -> Trace:
            return await replay_scenario(
                item.loaded,
                item.scenario,
                sample_index=item.sample_index,
                model=models.get(item.loaded.path),
            )

        with RunDirectory.open(out, manifest=replay_manifest(catalogs)) as run_dir:
            await Runner(items, simulate, run_dir, num_workers=num_workers, total=len(items)).run()
            outcomes = [_outcome(t, items) for t in run_dir.traces(include_failed=True)]
    finally:
        for model in closers:
            await model.aclose()
    order = {item.scenario.id: item.sample_index for item in items}
    outcomes.sort(key=lambda o: order.get(o.scenario_id, len(order)))
    return ReplayReport(run_dir=out, outcomes=outcomes, unscripted=unscripted)


def _outcome(trace: Trace, items: Sequence[ReplayItem]) -> ScenarioOutcome:
    catalog = next((i.loaded.path for i in items if i.scenario.id == trace.scenario_id), Path("?"))
    failures = [f"{c.kind}: {c.reason}" for c in trace.checks or [] if not c.passed]
    if trace.status is not EpisodeStatus.SUCCESS:
        failures.insert(0, failure_reason(trace))
    return ScenarioOutcome(
        scenario_id=trace.scenario_id or trace.episode_id,
        catalog=catalog,
        passed=trace_passed(trace),
        checks=len(trace.checks or []),
        failures=failures,
    )


def _synthetic_models(
    catalogs: Sequence[LoadedCatalog], items: Sequence[ReplayItem]
) -> tuple[dict[Path, ChatModel | None], list[ChatModel]]:
    """The `environment` model of catalogs that need one (a synthetic call without a recorded reply)."""
    from envsim.models.stack import build_role_models  # only when a model is needed

    models: dict[Path, ChatModel | None] = {}
    closers: list[ChatModel] = []
    for loaded in catalogs:
        needs = any(i.loaded is loaded and missing_replies(loaded, i.scenario) for i in items)
        config = loaded.catalog.inference_config
        if not needs or config is None:
            models[loaded.path] = None
            continue
        try:
            roles = build_role_models(config, base_dir=loaded.path.parent)
        except EnvsimError as exc:
            raise ConfigError(f"cannot build the catalog's model: {exc.render()}", file=str(loaded.path)) from exc
        models[loaded.path] = roles["environment"]
        closers.append(roles)  # type: ignore[arg-type]  # RoleModels has aclose()
    return models, closers

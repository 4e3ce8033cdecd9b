"""Live scenario runs: a catalog's scenarios simulated by the models, `trials` times each, then scored.

A live run comes from either file:
- a scenario catalog with `inference_config` (or `--model`) and `multiturn` role instructions, or
- a config with `scenario_catalog_path` (relative to the config): the config supplies the models, the
  seed, `output_path`, the multiturn attribute (replacing the catalog's) and `sampled_attributes` (so a
  scenario's `tone: angry` renders `{tone.description}`); environments always come from the catalog.

Only unscripted scenarios run live by default (scripted ones are `envsim replay`'s); `include_scripted`
simulates those too, ignoring their scripts. Each (scenario, trial) is one episode: id
`episode_id_for(position in the catalog, trial)`, attributes and initial states from the scenario, and
a seed of its own. The Runner's post-process hook evaluates the scenario's `expect` into `trace.checks`;
`evaluate_run` scores the trials (success per scenario, pass^k) for `evaluation.json`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from envsim.attributes.pipeline import SampleAttributes
from envsim.canonical import stable_hash
from envsim.config.models import (
    InferenceConfig,
    ModelSpec,
    MultiTurnAttribute,
    SampledAttribute,
    StrategyParams,
    SynthConfig,
)
from envsim.config.paths import resolve_path
from envsim.config.yaml_source import read_yaml
from envsim.errors import ConfigError, ConfigErrors
from envsim.recording import jsonl
from envsim.recording.trace import Trace
from envsim.scenarios.catalog import LoadedCatalog, Scenario, default_state_env, load_catalog
from envsim.scenarios.evaluation import Evaluation, evaluate_traces
from envsim.scenarios.expectations import evaluate_expectations
from envsim.simulation.episode import EpisodeSpec, episode_id_for
from envsim.simulation.runtime_placeholders import PER_CONVERSATION, TurnText
from envsim.templating import TemplateError

EVALUATION_FILE = "evaluation.json"

# Config sections that produce attributes; a scenario run takes its attributes from the scenarios, so
# these would be silently unused there.
_ATTRIBUTE_PRODUCERS = (
    "generated_attributes",
    "transformed_attributes",
    "input_examples",
    "input_data",
    "input_documents",
)


def is_scenario_catalog_file(path: str | Path) -> bool:
    """A YAML mapping with `scenarios:` is a scenario catalog (a config never has that key)."""
    p = Path(path)
    if not p.is_file() or p.suffix not in (".yaml", ".yml"):
        return False
    data = read_yaml(p).data
    return isinstance(data, dict) and "scenarios" in data


def scenario_trial_seed(run_seed: int, scenario: Scenario, index: int, trial: int) -> int:
    """Independent seeds per (scenario, trial). A scenario's own `seed` makes them independent of its
    position in the catalog and of the run seed."""
    if scenario.seed is not None:
        return int(stable_hash(["envsim-scenario-trial", scenario.seed, trial])[:12], 16)
    return int(stable_hash(["envsim-scenario-trial", run_seed, index, trial])[:12], 16)


@dataclass(frozen=True)
class ScenarioRun:
    """A live scenario run's inputs: the run config (models, seed, output, conversation) and the catalog."""

    config: SynthConfig
    catalog: LoadedCatalog
    conversation: MultiTurnAttribute

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_catalog_file(
        cls,
        path: str | Path,
        *,
        overrides: Sequence[str] | None = None,
        model_override: str | None = None,
        seed: int | None = None,
    ) -> ScenarioRun:
        """A catalog that carries its own `inference_config` (or `model_override`) and `multiturn`."""
        loaded = load_catalog(path, overrides=list(overrides or []))
        catalog = loaded.catalog
        file = str(loaded.path)
        inference = catalog.inference_config
        if inference is None:
            if model_override is None:
                raise ConfigError(
                    "a live scenario run needs models, and this catalog has no inference_config",
                    file=file,
                    location="inference_config",
                    hint="add `inference_config: {model: {model_name: openai:gpt-4o-mini}}` to the catalog, "
                    "or pass --model (e.g. --model mock:test to try it offline)",
                )
            inference = InferenceConfig(model=ModelSpec(model_name=model_override))
        if catalog.multiturn is None:
            raise ConfigError(
                "a live scenario run needs role instructions for the simulated user and assistant",
                file=file,
                location="multiturn",
                hint="add `multiturn: {id: chat, role_instruction_messages: {USER: 'You are {customer}. "
                "{goal}', ASSISTANT: ...}}`; scenario attributes fill the {placeholders}",
            )
        config = SynthConfig(
            seed=catalog.seed if seed is None else seed,
            output_path=catalog.output_path,
            scenario_catalog_path=str(loaded.path.resolve()),
            strategy_params=StrategyParams(multiturn_attributes=[catalog.multiturn]),
            inference_config=inference,
        )
        config.source_path = str(loaded.path.resolve())
        return cls.create(config, loaded, catalog.multiturn)

    @classmethod
    def from_config(cls, config: SynthConfig) -> ScenarioRun:
        """A config with `scenario_catalog_path` (resolved against the config's folder)."""
        assert config.scenario_catalog_path is not None
        file = config.source_path
        if config.environment_config is not None:
            raise ConfigError(
                "a scenario run takes its environments from the scenario catalog, but the config names "
                "environments too",
                file=file,
                location="environment_config_path" if config.environment_config_path else "environment_config",
                hint="remove the config's environments (the catalog's environment_config_path names them)",
            )
        unused = [key for key in _ATTRIBUTE_PRODUCERS if getattr(config.strategy_params, key)]
        if unused:
            raise ConfigError(
                f"a scenario run takes its attributes from the scenarios, so {', '.join(unused)} would be unused",
                file=file,
                location=f"strategy_params.{unused[0]}",
                hint="remove them, or give the values as scenario attributes",
            )
        loaded = load_catalog(resolve_path(config, config.scenario_catalog_path))
        conversations = config.strategy_params.multiturn_attributes
        if len(conversations) > 1:
            raise ConfigError(
                f"the config has {len(conversations)} multi-turn attributes; a run simulates one conversation",
                file=file,
                location="strategy_params.multiturn_attributes",
                hint="keep one multi-turn attribute",
            )
        conversation = conversations[0] if conversations else loaded.catalog.multiturn
        if conversation is None:
            raise ConfigError(
                "a live scenario run needs role instructions: neither the config nor the catalog has them",
                file=file,
                location="strategy_params.multiturn_attributes",
                hint="add a multiturn attribute to the config, or `multiturn:` to the catalog",
            )
        return cls.create(config, loaded, conversation)

    @classmethod
    def create(cls, config: SynthConfig, loaded: LoadedCatalog, conversation: MultiTurnAttribute) -> ScenarioRun:
        if conversation.min_turns > conversation.max_turns:
            raise ConfigError(
                f"min_turns ({conversation.min_turns}) is larger than max_turns ({conversation.max_turns})",
                file=config.source_path,
                hint="make min_turns <= max_turns",
            )
        return cls(config=config, catalog=loaded, conversation=conversation)

    # ------------------------------------------------------------------ episodes

    def attributes(self, values: dict[str, Any] | None) -> SampleAttributes:
        return SampleAttributes.from_values(
            values or {}, sampled_attributes=self.config.strategy_params.sampled_attributes
        )

    def check_templates(self, scenarios: Sequence[Scenario]) -> None:
        """The scenarios' attributes fill every placeholder of the role instructions (else the episodes
        would fail mid-run): checked up front, naming the scenario and the missing name."""
        sampled = self.config.strategy_params.sampled_attributes
        errors = template_errors(self.catalog, self.conversation, sampled, only=scenarios)
        if errors:
            raise ConfigErrors(errors)

    def selected(self, *, include_scripted: bool = False, limit: int | None = None) -> list[tuple[int, Scenario]]:
        """(position in the catalog, scenario) of the scenarios to simulate, in catalog order."""
        chosen = [(i, s) for i, s in enumerate(self.catalog.scenarios) if include_scripted or not s.scripted]
        if not chosen:
            scripted = len(self.catalog.scenarios)
            raise ConfigError(
                f"no scenarios to run live: all {scripted} scenario(s) of the catalog have a script",
                file=str(self.catalog.path),
                hint="replay scripted scenarios with `envsim replay`, or pass --include-scripted to simulate "
                "them live (their scripts are ignored)",
            )
        return chosen[:limit] if limit is not None else chosen

    def specs(self, trials: int, *, include_scripted: bool = False, limit: int | None = None) -> list[EpisodeSpec]:
        """One spec per (scenario, trial), scenario-major: `ep-000003`, `ep-000003-t1`, ..."""
        if trials < 1:
            raise ConfigError(f"--trials must be at least 1, got {trials}", hint="pass --trials 1 or more")
        selected = self.selected(include_scripted=include_scripted, limit=limit)
        self.check_templates([scenario for _, scenario in selected])
        return [
            EpisodeSpec(
                episode_id=episode_id_for(index, trial),
                seed=scenario_trial_seed(self.config.seed, scenario, index, trial),
                sample_index=index,
                trial=trial,
                scenario_id=scenario.id,
                attributes=dict(scenario.attributes),
                initial_states=self.catalog.initial_states(scenario) or None,
            )
            for index, scenario in selected
            for trial in range(trials)
        ]

    def check_expectations(self, trace: Trace) -> Trace:
        """The Runner's post-process hook: the scenario's `expect`, evaluated into `trace.checks`."""
        scenario = self.scenario(trace.scenario_id)
        trace.checks = evaluate_expectations(trace, scenario.expect, default_env=default_state_env(self.catalog))
        return trace

    def scenario(self, scenario_id: str | None) -> Scenario:
        found = next((s for s in self.catalog.scenarios if s.id == scenario_id), None)
        if found is None:
            raise ConfigError(f"scenario {scenario_id!r} is not in {self.catalog.path}")
        return found

    def manifest_snapshot(self) -> dict[str, Any]:
        """What resuming compares: the config, and the catalog's scenarios and environments (so an edited
        catalog is noticed). Trials are not part of it: more trials extend the same experiment."""
        return {
            **self.config.model_dump(mode="json"),
            "scenario_catalog": {
                "path": str(self.catalog.path.resolve()),
                "catalog": self.catalog.catalog.model_dump(mode="json"),
                "environments": [e.model_dump(mode="json") for e in self.catalog.environments],
            },
        }


def template_errors(
    loaded: LoadedCatalog,
    conversation: MultiTurnAttribute,
    sampled_attributes: Sequence[SampledAttribute] = (),
    *,
    only: Sequence[Scenario] | None = None,
) -> list[ConfigError]:
    """One error per (scenario, instruction) whose placeholders the scenario's attributes do not fill
    (for the scenarios in `only`, default all)."""
    instructions = conversation.role_instruction_messages
    templates = {f"role_instruction_messages.{role}": text for role, text in instructions.items()}
    for key in ("output_system_prompt", "conversation_planner"):
        text = getattr(conversation, key)
        if text:
            templates[key] = text
    errors = []
    for i, scenario in enumerate(loaded.scenarios):
        if only is not None and not any(scenario is s for s in only):
            continue
        attributes = SampleAttributes.from_values(scenario.attributes, sampled_attributes=sampled_attributes)
        for where, template in templates.items():
            try:
                # Placeholders the conversation fills ({target_turns}, {current_turn}, ...) need no attribute.
                render = partial(attributes.render, where=f"multiturn {where}")
                TurnText.render(template, dict.fromkeys(PER_CONVERSATION, "1"), render)
            except TemplateError as exc:
                errors.append(
                    ConfigError(
                        f"scenario {scenario.id!r}: {exc.message}",
                        file=str(loaded.path),
                        location=f"scenarios[{i}].attributes",
                        hint="give the scenario that attribute, or change the instruction",
                    )
                )
    return errors


# --------------------------------------------------------------------------- scoring


def evaluate_run(traces: Iterable[Trace], specs: Sequence[EpisodeSpec]) -> Evaluation:
    """Score the traces of `specs` (a run directory may hold more trials from earlier invocations)."""
    wanted = {spec.episode_id for spec in specs}
    return evaluate_traces(t for t in traces if t.episode_id in wanted)


def evaluation_record(evaluation: Evaluation) -> dict[str, Any]:
    """The JSON form of `evaluation.json`."""
    return {
        "passed": evaluation.passed,
        "success_rate": evaluation.pass_hat.get(1),
        "pass_hat_k": {str(k): value for k, value in sorted(evaluation.pass_hat.items())},
        "scenarios": [
            {
                "scenario_id": s.scenario_id,
                "trials": s.trials,
                "successes": s.successes,
                "success_rate": s.successes / s.trials if s.trials else None,
                "failures": s.failures,
            }
            for s in evaluation.scores
        ],
    }


def write_evaluation(run_dir: Path, evaluation: Evaluation) -> Path:
    path = run_dir / EVALUATION_FILE
    jsonl.atomic_write_json(path, evaluation_record(evaluation))
    return path

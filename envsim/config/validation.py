"""Load-time semantic checks: what pydantic's shape checks cannot see.

Each check returns ConfigErrors whose `location` is a path in the merged config
(`environment_config.environments[1].tools[0]...`); the loader maps them to the file and the path the
user actually wrote (a separate catalog file, oumi's spelling). Everything is checked in one pass so a
user sees all problems at once, at load time rather than at sample 9,000.

Other parts of envsim add checks by appending to `EXTRA_VALIDATORS`.
"""

from __future__ import annotations

import glob
import re
from collections.abc import Callable, Iterator
from typing import Any

from envsim.canonical import canonical_json
from envsim.config.locations import Loc, format_loc
from envsim.config.models import (
    EnvironmentCatalog,
    EnvironmentConfig,
    EnvironmentType,
    MultiTurnAttribute,
    StrategyParams,
    SynthConfig,
    ToolConfig,
)
from envsim.config.oumi_checks import check_oumi_environment
from envsim.config.paths import resolve_path
from envsim.config.spellings import did_you_mean
from envsim.environments.schema import check_schema, fill_defaults, json_errors, schema_errors
from envsim.errors import ConfigError

Validator = Callable[[SynthConfig], list[ConfigError]]

# Checks registered by other modules (e.g. template placeholders, attribute dependency cycles).
# Each receives the fully built config and returns its errors; `load_config` runs them all.
EXTRA_VALIDATORS: list[Validator] = []

CONFIG_ENVIRONMENTS: Loc = ("environment_config", "environments")
CATALOG_ENVIRONMENTS: Loc = ("environments",)
REQUIRED_ROLES = ("USER", "ASSISTANT")
_RATE_SLACK = 1e-9  # float sums such as 0.1 + 0.2 + 0.7


class _Collector:
    def __init__(self, file: str | None) -> None:
        self.file = file
        self.errors: list[ConfigError] = []

    def add(self, loc: Loc, message: str, hint: str | None = None) -> None:
        self.errors.append(ConfigError(message, file=self.file, location=format_loc(loc), hint=hint))


def validate_config(config: SynthConfig, *, environments_loaded: bool = True) -> list[ConfigError]:
    """Every semantic error of a fully built config, including those of `EXTRA_VALIDATORS`.

    `environments_loaded=False` says the environment catalog failed to load (its errors are already
    reported): checks that refer to environments are skipped instead of flagging every reference.
    """
    out = _Collector(config.source_path)
    if config.environment_config is not None:
        out.errors += validate_catalog(config.environment_config, CONFIG_ENVIRONMENTS, file=config.source_path)
    _check_multiturn(config, out, environments_loaded)
    _check_sampled(config.strategy_params, out)
    _check_attribute_ids(config.strategy_params, out)
    _check_sources(config, out)
    for extra in EXTRA_VALIDATORS:
        out.errors += extra(config)
    return out.errors


def validate_catalog(
    catalog: EnvironmentCatalog, prefix: Loc = CATALOG_ENVIRONMENTS, *, file: str | None = None
) -> list[ConfigError]:
    """Semantic errors of an environment catalog; `prefix` is where its list of environments lives."""
    pairs = list(enumerate(catalog.environments))
    return validate_environments(pairs, prefix, file=file if file is not None else catalog.source_path)


def validate_environments(
    environments: list[tuple[int, EnvironmentConfig]], prefix: Loc = CATALOG_ENVIRONMENTS, *, file: str | None = None
) -> list[ConfigError]:
    """Semantic errors of (index, environment) pairs: also usable on the valid part of a broken catalog."""
    out = _Collector(file)
    first_env: dict[str, int] = {}
    for i, env in environments:
        loc = (*prefix, i)
        if env.id in first_env:
            out.add(
                (*loc, "id"),
                f"environment id '{env.id}' is already used by {format_loc((*prefix, first_env[env.id]))}",
                "environment ids must be unique; rename one of them",
            )
        first_env.setdefault(env.id, i)
        _check_environment(env, loc, out)
    return out.errors


# --------------------------------------------------------------------------- environments


def _check_environment(env: EnvironmentConfig, loc: Loc, out: _Collector) -> None:
    kind = env.type
    if kind is not EnvironmentType.SYNTHETIC:
        for name, used in (
            ("system_prompt", env.system_prompt is not None),
            ("cache_by_input", env.cache_by_input),
            ("include_history", env.include_history),
        ):
            if used:
                out.add((*loc, name), f"{name} only applies to synthetic environments, this one is {kind}", "remove it")
    if kind is not EnvironmentType.PYTHON and env.module is not None:
        out.add((*loc, "module"), f"module only applies to python environments, this one is {kind}", "remove it")
    if kind is EnvironmentType.DETERMINISTIC and env.state_params is not None:
        out.add(
            (*loc, "state_params"),
            "a deterministic environment has no state, so it cannot have state_params",
            "remove state_params, or use type: synthetic or python for a stateful environment",
        )
    if env.state_params is not None:
        _check_state(env, (*loc, "state_params"), out)
    check_oumi_environment(env, loc, out.add)

    first_tool: dict[str, int] = {}
    for j, tool in enumerate(env.tools):
        tool_loc = (*loc, "tools", j)
        if tool.id in first_tool:
            out.add(
                (*tool_loc, "id"),
                f"tool id '{tool.id}' is already used by tools[{first_tool[tool.id]}] of environment '{env.id}'",
                "tool ids must be unique; rename one of them",
            )
        first_tool.setdefault(tool.id, j)
        _check_tool(env, tool, tool_loc, out)


def _check_state(env: EnvironmentConfig, loc: Loc, out: _Collector) -> None:
    params = env.state_params
    assert params is not None
    if params.state_schema is None:
        return
    problems = check_schema(params.state_schema)
    if problems:
        out.add((*loc, "state_schema"), f"not a valid JSON Schema: {problems[0]}", _more(problems))
        return
    problems = json_errors(params.state_schema, params.initial_state)  # O(state) once: the fast verdict
    if problems:
        out.add(
            (*loc, "initial_state"),
            f"initial_state does not match state_schema: {'; '.join(problems[:5])}",
            "fix the initial state, or the schema if the state is right",
        )


def _check_tool(env: EnvironmentConfig, tool: ToolConfig, loc: Loc, out: _Collector) -> None:
    kind = env.type
    parameters_ok = _check_schema_field(tool.parameters, (*loc, "parameters"), out)
    if parameters_ok and tool.parameters.get("type", "object") != "object":
        out.add(
            (*loc, "parameters"),
            f"parameters must describe an object (type: object), got type: {tool.parameters.get('type')}",
            "tool arguments are always a JSON object; put the values under properties",
        )
        parameters_ok = False
    output_ok = tool.output_schema is None or _check_schema_field(tool.output_schema, (*loc, "output_schema"), out)

    has_default = "default_output" in tool.model_fields_set
    if kind is not EnvironmentType.DETERMINISTIC:
        if tool.deterministic_outputs:
            out.add(
                (*loc, "deterministic_outputs"),
                f"deterministic_outputs only apply to deterministic environments, this one is {kind}",
                "remove them, or make the environment type: deterministic",
            )
        if has_default:
            out.add((*loc, "default_output"), f"default_output only applies to deterministic environments ({kind})")
    if kind is EnvironmentType.DETERMINISTIC and tool.handler is not None:
        out.add(
            (*loc, "handler"),
            "handler only applies to python environments and to python-run tools of synthetic (hybrid) "
            "environments, this one is deterministic",
            "remove it",
        )

    if kind is EnvironmentType.PYTHON or (kind is EnvironmentType.SYNTHETIC and tool.handler is not None):
        _check_handler(env, tool, loc, out)
    _check_state_view(env, tool, loc, out)
    if kind is EnvironmentType.DETERMINISTIC:
        if not tool.deterministic_outputs and not has_default:
            out.add(
                loc,
                f"deterministic tool '{tool.id}' has no deterministic_outputs and no default_output, "
                "so every call would fail",
                "add deterministic_outputs: [{input: {...}, output: ...}] or a default_output",
            )
        _check_lookup_table(tool, loc, out, check_inputs=parameters_ok, check_outputs=output_ok)


def _check_state_view(env: EnvironmentConfig, tool: ToolConfig, loc: Loc, out: _Collector) -> None:
    """state_view / allow_create: only on simulated tools of stateful synthetic environments; pointers are
    JSON Pointers whose {placeholders} name the tool's parameters."""
    used = [name for name in ("state_view", "allow_create") if name in tool.model_fields_set]
    if not used:
        return
    simulated_stateful = env.type is EnvironmentType.SYNTHETIC and env.state_params is not None and not tool.handler
    if not simulated_stateful:
        for name in used:
            out.add(
                (*loc, name),
                f"{name} only applies to simulated tools of stateful synthetic environments",
                "remove it (python tools see the whole state), or add state_params to the environment",
            )
        return
    parameters = set((tool.parameters.get("properties") or {}) if isinstance(tool.parameters, dict) else {})
    pointers: list[tuple[Loc, str]] = [((*loc, "allow_create", k), p) for k, p in enumerate(tool.allow_create)]
    if tool.state_view is not None:
        pointers += [((*loc, "state_view", "pointers", k), p) for k, p in enumerate(tool.state_view.pointers)]
        pointers += [
            ((*loc, "state_view", "queries", k, "collection"), q.collection)
            for k, q in enumerate(tool.state_view.queries)
        ]
        for k, query in enumerate(tool.state_view.queries):
            for field_name, value in query.where.items():
                names = _PLACEHOLDER_NAMES.findall(value) if isinstance(value, str) else []
                for name in names:
                    if name not in parameters:
                        out.add(
                            (*loc, "state_view", "queries", k, "where", field_name),
                            f"placeholder {{{name}}} names no parameter of tool '{tool.id}'",
                            f"use one of: {', '.join(sorted(parameters)) or '(the tool has no parameters)'}",
                        )
    for where, pointer in pointers:
        if pointer and not pointer.startswith("/"):
            out.add(where, f"'{pointer}' is not a JSON Pointer (it must start with '/')", f"write '/{pointer}'")
            continue
        for name in _PLACEHOLDER_NAMES.findall(pointer):
            if name not in parameters:
                out.add(
                    where,
                    f"placeholder {{{name}}} in '{pointer}' names no parameter of tool '{tool.id}'",
                    f"use one of: {', '.join(sorted(parameters)) or '(the tool has no parameters)'}",
                )


_PLACEHOLDER_NAMES = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _check_handler(env: EnvironmentConfig, tool: ToolConfig, loc: Loc, out: _Collector) -> None:
    if tool.handler is None:
        if env.module is None:
            out.add(
                loc,
                f"python tool '{tool.id}' has no handler",
                "add handler: package.module:function, or set module: on the environment to a module that "
                "registers the tool with @tool",
            )
        return
    target, sep, function = tool.handler.rpartition(":")
    if not sep or not target or not function.isidentifier():
        out.add(
            (*loc, "handler"),
            f"handler '{tool.handler}' is not of the form package.module:function (or file.py:function)",
            f"for example handler: my_tools.orders:{tool.id}",
        )


def _check_lookup_table(
    tool: ToolConfig, loc: Loc, out: _Collector, *, check_inputs: bool, check_outputs: bool
) -> None:
    seen: dict[str, int] = {}
    for k, entry in enumerate(tool.deterministic_outputs):
        entry_loc = (*loc, "deterministic_outputs", k)
        filled = fill_defaults(tool.parameters, entry.input) if check_inputs else entry.input
        if check_inputs:
            problems = schema_errors(tool.parameters, filled)
            if problems:
                out.add(
                    (*entry_loc, "input"),
                    f"input does not match the parameters of tool '{tool.id}': {'; '.join(problems[:5])}",
                    "a call with these arguments would be rejected before the lookup; fix the input or the schema",
                )
        key = canonical_json(filled)
        if key in seen:
            first = tool.deterministic_outputs[seen[key]].input
            literal_duplicate = canonical_json(first) == canonical_json(entry.input)
            out.add(
                (*entry_loc, "input"),
                f"duplicate input: entry [{seen[key]}] of this tool's table has the same input"
                + ("" if literal_duplicate else " (after filling schema defaults)"),
                "remove one of the entries, or make their inputs differ",
            )
        seen.setdefault(key, k)
        if check_outputs and tool.output_schema is not None:
            _check_value(tool.output_schema, entry.output, (*entry_loc, "output"), "output", tool, out)
    if check_outputs and tool.output_schema is not None and "default_output" in tool.model_fields_set:
        _check_value(tool.output_schema, tool.default_output, (*loc, "default_output"), "default_output", tool, out)


def _check_value(schema: dict[str, Any], value: Any, loc: Loc, what: str, tool: ToolConfig, out: _Collector) -> None:
    problems = schema_errors(schema, value)
    if problems:
        out.add(loc, f"{what} does not match the output_schema of tool '{tool.id}': {'; '.join(problems[:5])}")


def _check_schema_field(schema: Any, loc: Loc, out: _Collector) -> bool:
    problems = check_schema(schema)
    if problems:
        out.add(loc, f"not a valid JSON Schema: {problems[0]}", _more(problems))
    return not problems


def _more(problems: list[str]) -> str | None:
    return f"{len(problems) - 1} more problem(s): {'; '.join(problems[1:4])}" if len(problems) > 1 else None


# --------------------------------------------------------------------------- multiturn


def _check_multiturn(config: SynthConfig, out: _Collector, environments_loaded: bool) -> None:
    envs = config.environment_config.environments if config.environment_config else []
    reported: set[tuple[int, int]] = set()
    for m, attr in enumerate(config.strategy_params.multiturn_attributes):
        loc: Loc = ("strategy_params", "multiturn_attributes", m)
        if attr.min_turns > attr.max_turns:
            out.add(
                (*loc, "min_turns"),
                f"min_turns ({attr.min_turns}) is greater than max_turns ({attr.max_turns})",
                "make min_turns <= max_turns",
            )
        _check_roles(attr, loc, out)
        if not environments_loaded:
            continue
        visible = _visible_environments(attr, envs, loc, out)
        _check_tool_visibility(attr, envs, visible, loc, out, reported)


def _check_roles(attr: MultiTurnAttribute, loc: Loc, out: _Collector) -> None:
    roles = attr.role_instruction_messages
    missing = [role for role in REQUIRED_ROLES if role not in roles]
    if missing:
        out.add(
            (*loc, "role_instruction_messages"),
            f"role_instruction_messages has no {' and no '.join(missing)} entry",
            "give the instructions of both simulated parties: {USER: ..., ASSISTANT: ...}",
        )
    for key in roles:
        if key not in REQUIRED_ROLES:
            suggestion = did_you_mean(key, REQUIRED_ROLES)
            out.add(
                (*loc, "role_instruction_messages", key),
                f"unknown role '{key}'",
                f"did you mean '{suggestion}'?" if suggestion else "the roles are USER and ASSISTANT",
            )


def _visible_environments(
    attr: MultiTurnAttribute, envs: list[EnvironmentConfig], loc: Loc, out: _Collector
) -> list[int]:
    if not attr.available_environments:
        return list(range(len(envs)))
    index = {env.id: i for i, env in enumerate(envs)}
    visible: list[int] = []
    for k, env_id in enumerate(attr.available_environments):
        if env_id in index:
            visible.append(index[env_id])
            continue
        if not envs:
            hint = "define the environments under environment_config (or environment_config_path)"
        else:
            suggestion = did_you_mean(env_id, list(index))
            hint = f"did you mean '{suggestion}'?" if suggestion else f"defined environments: {', '.join(index)}"
        out.add((*loc, "available_environments", k), f"unknown environment '{env_id}'", hint)
    return visible


def _check_tool_visibility(
    attr: MultiTurnAttribute,
    envs: list[EnvironmentConfig],
    visible: list[int],
    loc: Loc,
    out: _Collector,
    reported: set[tuple[int, int]],
) -> None:
    owner: dict[str, tuple[int, int]] = {}
    for i in visible:
        for j, tool in enumerate(envs[i].tools):
            first = owner.setdefault(tool.id, (i, j))
            if first[0] != i and (i, j) not in reported:
                reported.add((i, j))
                out.add(
                    (*CONFIG_ENVIRONMENTS, i, "tools", j, "id"),
                    f"tool id '{tool.id}' is also defined by environment '{envs[first[0]].id}', and multiturn "
                    f"attribute '{attr.id}' sees both",
                    "rename one of the tools, or restrict available_environments so a conversation sees one",
                )
    for k, tool_id in enumerate(attr.available_tools):
        if tool_id not in owner:
            suggestion = did_you_mean(tool_id, list(owner))
            out.add(
                (*loc, "available_tools", k),
                f"unknown tool '{tool_id}' (not in the environments this attribute can see)",
                f"did you mean '{suggestion}'?" if suggestion else f"available tools: {', '.join(owner) or '(none)'}",
            )


# --------------------------------------------------------------------------- attributes


def _check_sampled(params: StrategyParams, out: _Collector) -> None:
    values: dict[str, set[str]] = {}
    for a, attr in enumerate(params.sampled_attributes):
        loc: Loc = ("strategy_params", "sampled_attributes", a)
        if not attr.possible_values:
            out.add((*loc, "possible_values"), f"sampled attribute '{attr.id}' has no possible_values")
        ids: dict[str, int] = {}
        for v, value in enumerate(attr.possible_values):
            if value.id in ids:
                out.add(
                    (*loc, "possible_values", v, "id"),
                    f"value id '{value.id}' is already used by possible_values[{ids[value.id]}]",
                    "value ids must be unique within an attribute",
                )
            ids.setdefault(value.id, v)
        values[attr.id] = set(ids)
        total = sum(value.sample_rate or 0.0 for value in attr.possible_values)
        if total > 1 + _RATE_SLACK:
            out.add(
                (*loc, "possible_values"),
                f"the sample_rates of '{attr.id}' add up to {total:g}, more than 1",
                "lower them so they sum to at most 1 (values without a rate share what is left)",
            )

    total = 0.0
    for c, combo in enumerate(params.combination_sampling):
        loc = ("strategy_params", "combination_sampling", c)
        total += combo.sample_rate
        for attr_id, value_id in combo.combination.items():
            if attr_id not in values:
                suggestion = did_you_mean(attr_id, list(values))
                out.add(
                    (*loc, "combination", attr_id),
                    f"unknown sampled attribute '{attr_id}'",
                    f"did you mean '{suggestion}'?" if suggestion else "combinations refer to sampled_attributes ids",
                )
            elif value_id not in values[attr_id]:
                suggestion = did_you_mean(str(value_id), sorted(values[attr_id]))
                out.add(
                    (*loc, "combination", attr_id),
                    f"attribute '{attr_id}' has no value '{value_id}'",
                    f"did you mean '{suggestion}'?"
                    if suggestion
                    else f"its values: {', '.join(sorted(values[attr_id]))}",
                )
    if total > 1 + _RATE_SLACK:
        out.add(
            ("strategy_params", "combination_sampling"),
            f"the sample_rates of combination_sampling add up to {total:g}, more than 1",
            "lower them so they sum to at most 1",
        )


def _attribute_ids(params: StrategyParams) -> Iterator[tuple[str, Loc]]:
    sp = "strategy_params"
    for i, a in enumerate(params.sampled_attributes):
        yield a.id, (sp, "sampled_attributes", i, "id")
    for i, g in enumerate(params.generated_attributes):
        yield g.id, (sp, "generated_attributes", i, "id")
        if g.postprocessing_params is not None:
            yield g.postprocessing_params.id, (sp, "generated_attributes", i, "postprocessing_params", "id")
    for i, t in enumerate(params.transformed_attributes):
        yield t.id, (sp, "transformed_attributes", i, "id")
    for i, e in enumerate(params.input_examples):
        if e.id is not None:
            yield e.id, (sp, "input_examples", i, "id")
    for i, d in enumerate(params.input_data):
        if d.id is not None:
            yield d.id, (sp, "input_data", i, "id")
    for i, doc in enumerate(params.input_documents):
        yield doc.id, (sp, "input_documents", i, "id")
        if doc.segmentation_params is not None:
            yield doc.segmentation_params.id, (sp, "input_documents", i, "segmentation_params", "id")
    for i, m in enumerate(params.multiturn_attributes):
        yield m.id, (sp, "multiturn_attributes", i, "id")


def _check_attribute_ids(params: StrategyParams, out: _Collector) -> None:
    first: dict[str, Loc] = {}
    for attr_id, loc in _attribute_ids(params):
        if attr_id in first:
            out.add(
                loc,
                f"attribute id '{attr_id}' is already used by {format_loc(first[attr_id][:-1])}",
                "attribute ids name values in templates and in the output; make them unique",
            )
        else:
            first[attr_id] = loc


# --------------------------------------------------------------------------- files


def _check_sources(config: SynthConfig, out: _Collector) -> None:
    params = config.strategy_params
    for i, example in enumerate(params.input_examples):
        if example.num_shots is not None and example.num_shots > len(example.examples):
            out.add(
                ("strategy_params", "input_examples", i, "num_shots"),
                f"num_shots is {example.num_shots} but there are only {len(example.examples)} examples",
            )
    sources: list[tuple[str, Loc]] = [
        (d.path, ("strategy_params", "input_data", i, "path")) for i, d in enumerate(params.input_data)
    ]
    sources += [
        (d.path, ("strategy_params", "input_documents", i, "path")) for i, d in enumerate(params.input_documents)
    ]
    if config.scenario_catalog_path is not None:
        sources.append((config.scenario_catalog_path, ("scenario_catalog_path",)))
    for path, loc in sources:
        if loc[1:2] == ("input_data",) and path.startswith("hf:"):
            continue  # a Hugging Face dataset (sources/hf_dataset.py), not a file
        resolved = resolve_path(config, path)
        found = glob.glob(str(resolved), recursive=True) if glob.has_magic(str(resolved)) else resolved.exists()
        if not found:
            out.add(
                loc,
                f"no file matches '{path}' (looked for {resolved})",
                "relative paths resolve against the directory of the config file",
            )

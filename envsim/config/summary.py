"""A one-screen summary of a loaded config or catalog (what `envsim validate` prints after "ok").

`build_summary` extracts plain data (easy to test and reuse); `render_summary` lays it out with rich.
Secrets never appear: models are shown by name, engine and base URL, keys only by variable name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from envsim.config.models import EnvironmentCatalog, EnvironmentType, ModelSpec, SynthConfig
from envsim.config.oumi_differences import oumi_differences


@dataclass
class ToolSummary:
    id: str
    read_only: bool
    entries: int | None = None  # deterministic: lookup entries


@dataclass
class EnvironmentSummary:
    id: str
    kind: str
    stateful: bool
    tools: list[ToolSummary]
    state_keys: list[str]
    cache_by_input: bool = False


@dataclass
class AttributeSummary:
    id: str
    kind: str  # sampled | generated | transformed | examples | data | documents
    detail: str = ""


@dataclass
class MultiturnSummary:
    id: str
    turns: str
    environments: list[str]
    tools: list[str]


@dataclass
class ModelSummary:
    role: str
    model: str


@dataclass
class Summary:
    source: str | None
    kind: str  # "config" | "catalog"
    environments: list[EnvironmentSummary] = field(default_factory=list)
    attributes: list[AttributeSummary] = field(default_factory=list)
    multiturn: list[MultiturnSummary] = field(default_factory=list)
    models: list[ModelSummary] = field(default_factory=list)
    num_samples: int | None = None
    # what envsim does differently from `oumi synth` with this config, one line each
    oumi_differences: list[str] = field(default_factory=list)


def build_summary(loaded: SynthConfig | EnvironmentCatalog) -> Summary:
    if isinstance(loaded, EnvironmentCatalog):
        return Summary(source=loaded.source_path, kind="catalog", environments=_environments(loaded))
    catalog = loaded.environment_config or EnvironmentCatalog()
    return Summary(
        source=loaded.source_path,
        kind="config",
        environments=_environments(catalog),
        attributes=_attributes(loaded),
        multiturn=_multiturn(loaded, catalog),
        models=_models(loaded),
        num_samples=loaded.num_samples,
        oumi_differences=oumi_differences(loaded),
    )


def _environments(catalog: EnvironmentCatalog) -> list[EnvironmentSummary]:
    out = []
    for env in catalog.environments:
        state = env.state_params.initial_state if env.state_params else {}
        schema_keys = _schema_keys(env.state_params.state_schema) if env.state_params else []
        keys = list(dict.fromkeys([*state, *schema_keys]))
        tools = [
            ToolSummary(
                id=t.id,
                read_only=t.read_only,
                entries=len(t.deterministic_outputs) if env.type is EnvironmentType.DETERMINISTIC else None,
            )
            for t in env.tools
        ]
        out.append(
            EnvironmentSummary(
                id=env.id,
                kind=str(env.type),
                stateful=env.state_params is not None,
                tools=tools,
                state_keys=keys,
                cache_by_input=env.cache_by_input,
            )
        )
    return out


def _schema_keys(schema: dict[str, Any] | None) -> list[str]:
    properties = (schema or {}).get("properties")
    return list(properties) if isinstance(properties, dict) else []


def _attributes(config: SynthConfig) -> list[AttributeSummary]:
    p = config.strategy_params
    out = [AttributeSummary(a.id, "sampled", ", ".join(v.id for v in a.possible_values)) for a in p.sampled_attributes]
    out += [
        AttributeSummary(g.id, "generated", f"{len(g.instruction_messages)} messages") for g in p.generated_attributes
    ]
    out += [
        AttributeSummary(t.id, "transformed", str(t.transformation_strategy.type)) for t in p.transformed_attributes
    ]
    out += [
        AttributeSummary(e.id or f"input_examples[{i}]", "examples", f"{len(e.examples)} rows")
        for i, e in enumerate(p.input_examples)
    ]
    out += [AttributeSummary(d.id or f"input_data[{i}]", "data", d.path) for i, d in enumerate(p.input_data)]
    out += [AttributeSummary(d.id, "documents", d.path) for d in p.input_documents]
    return out


def _multiturn(config: SynthConfig, catalog: EnvironmentCatalog) -> list[MultiturnSummary]:
    out = []
    for m in config.strategy_params.multiturn_attributes:
        envs = m.available_environments or [e.id for e in catalog.environments]
        tools = m.available_tools or [t.id for e in catalog.environments if e.id in envs for t in e.tools]
        out.append(MultiturnSummary(m.id, f"{m.min_turns}-{m.max_turns}", envs, tools))
    return out


def _models(config: SynthConfig) -> list[ModelSummary]:
    inference = config.inference_config
    out = [ModelSummary("default", _model_text(inference.model))]
    for role in ("planner", "user", "assistant", "environment", "attribute"):
        spec = getattr(inference.roles, role)
        if spec is not None:
            out.append(ModelSummary(role, _model_text(spec)))
    return out


def _model_text(spec: ModelSpec) -> str:
    parts = [spec.model_name]
    if spec.engine:
        parts.append(f"engine {spec.engine}")
    if spec.base_url:
        parts.append(f"at {spec.base_url}")
    if spec.api_key_env:
        parts.append(f"key from ${spec.api_key_env}")
    return ", ".join(parts)


# --------------------------------------------------------------------------- rendering


def render_summary(summary: Summary) -> RenderableType:
    parts: list[RenderableType] = []
    title = f"{summary.kind} {summary.source}" if summary.source else summary.kind
    if summary.num_samples is not None:
        title += f"  ({summary.num_samples} sample{'s' if summary.num_samples != 1 else ''})"
    parts.append(Text(title, style="bold", no_wrap=True, overflow="ignore"))
    parts.append(_environment_table(summary.environments))
    if summary.kind == "config":
        if summary.attributes:
            table = Table(title="attributes", title_justify="left", show_edge=False)
            for column in ("id", "kind", "detail"):
                table.add_column(column)
            for a in summary.attributes:
                table.add_row(Text(a.id), Text(a.kind), Text(_clip(a.detail)))
            parts.append(table)
        if summary.multiturn:
            table = Table(title="multiturn attributes", title_justify="left", show_edge=False)
            for column in ("id", "turns", "environments", "tools"):
                table.add_column(column)
            for m in summary.multiturn:
                table.add_row(Text(m.id), Text(m.turns), Text(", ".join(m.environments)), Text(", ".join(m.tools)))
            parts.append(table)
        table = Table(title="models", title_justify="left", show_edge=False)
        table.add_column("role")
        table.add_column("model")
        for model in summary.models:
            table.add_row(Text(model.role), Text(model.model))
        parts.append(table)
        if summary.oumi_differences:
            parts.append(Text("differences from oumi synth with this config:", style="bold"))
            parts.extend(Text(f"- {line}") for line in summary.oumi_differences)
    return Group(*parts)


def _environment_table(envs: list[EnvironmentSummary]) -> RenderableType:
    if not envs:
        return Text("no environments", style="dim")
    table = Table(
        title="environments",
        title_justify="left",
        show_edge=False,
        caption=Text("(ro) read-only tool, [n] lookup entries"),
        caption_justify="left",
    )
    table.add_column("id", no_wrap=True)
    table.add_column("kind", min_width=len("deterministic"))
    table.add_column("tools", overflow="fold")  # one per line: long tool names stay readable
    longest_key = max((len(k) for env in envs for k in env.state_keys), default=4)
    table.add_column("state keys", overflow="fold", min_width=min(longest_key, 20))
    for env in envs:
        tools = "\n".join(
            t.id + (" (ro)" if t.read_only else "") + (f" [{t.entries}]" if t.entries is not None else "")
            for t in env.tools
        )
        kind = "\n".join(
            [env.kind] + (["stateful"] if env.stateful else []) + (["cached"] if env.cache_by_input else [])
        )
        # Text(), not markup: ids and the [n] counts must never be read as rich tags.
        table.add_row(Text(env.id), Text(kind), Text(tools or "-"), Text("\n".join(env.state_keys) or "-"))
    return table


def _clip(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."

"""The attribute dependency graph: who defines each attribute, and whose templates reference whom.

Nodes are producers: a sampled attribute, a source, a generated attribute, a transformed attribute,
a multiturn attribute. An edge A -> B means a template of B references an attribute A defines.
Built once at load time; it rejects unknown names, cycles, bad few-shot indexes and fields, and
gives the evaluation order (topological generations; one generation's members are independent).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import networkx as nx

from envsim.attributes.generation import output_names
from envsim.attributes.sampling import SAMPLED_FIELDS
from envsim.attributes.sources.pool import SourcePool
from envsim.attributes.transforms import missing_template_field, transform_templates
from envsim.config.models import StrategyParams
from envsim.errors import ConfigError
from envsim.simulation.runtime_placeholders import PER_TURN, RESERVED_ATTRIBUTE_IDS, RUNTIME_PLACEHOLDERS
from envsim.templating import Placeholder, find_placeholders


class ProducerKind(StrEnum):
    SAMPLED = "sampled attribute"
    SOURCE = "source"
    GENERATED = "generated attribute"
    TRANSFORMED = "transformed attribute"
    MULTITURN = "multiturn attribute"


@dataclass
class Producer:
    kind: ProducerKind
    label: str  # how messages name it (the attribute id, or the source's id / location)
    location: str  # unique; also the graph node key
    outputs: list[str]
    templates: list[tuple[str, str]] = field(default_factory=list)  # (location, template)
    config: Any = None  # the config entry (GeneratedAttribute, TransformedAttribute, ...)
    pool: SourcePool | None = None

    @property
    def declared(self) -> set[str]:
        """Outputs named by an `id` in the config (not source columns, not derived `_plan` names)."""
        if self.kind is ProducerKind.SOURCE and self.pool is not None:
            if self.pool.few_shot:
                return {str(self.pool.id)}
            return set(self.outputs) if self.location.startswith("strategy_params.input_documents") else set()
        if self.kind is ProducerKind.MULTITURN:
            return {self.label}
        return set(self.outputs)


@dataclass
class AttributeGraph:
    graph: nx.DiGraph
    producers: dict[str, Producer]  # by location
    defined_by: dict[str, Producer]  # attribute name -> producer

    def generations(self) -> list[list[Producer]]:
        """Generated and transformed producers in dependency order; each inner list is independent."""
        computed = [
            loc for loc, p in self.producers.items() if p.kind in (ProducerKind.GENERATED, ProducerKind.TRANSFORMED)
        ]
        sub = self.graph.subgraph(computed)
        return [
            [self.producers[loc] for loc in sorted(gen, key=_config_order(computed))]
            for gen in nx.topological_generations(sub)
        ]

    @property
    def names(self) -> list[str]:
        return list(self.defined_by)


def _config_order(locations: list[str]) -> Any:
    rank = {loc: i for i, loc in enumerate(locations)}
    return lambda loc: rank[loc]


def _producers(params: StrategyParams, pools: Iterable[SourcePool]) -> Iterator[Producer]:
    for i, sampled in enumerate(params.sampled_attributes):
        yield Producer(ProducerKind.SAMPLED, sampled.id, f"strategy_params.sampled_attributes[{i}]", [sampled.id])
    for pool in pools:
        outputs = [str(pool.id)] if pool.few_shot else pool.all_fields
        yield Producer(ProducerKind.SOURCE, pool.id or pool.location, pool.location, outputs, pool=pool)
    for i, gen in enumerate(params.generated_attributes):
        loc = f"strategy_params.generated_attributes[{i}]"
        templates = [
            (f"{loc}.instruction_messages[{j}].content", m.content) for j, m in enumerate(gen.instruction_messages)
        ]
        yield Producer(ProducerKind.GENERATED, gen.id, loc, output_names(gen), templates, gen)
    for i, tr in enumerate(params.transformed_attributes):
        loc = f"strategy_params.transformed_attributes[{i}]"
        yield Producer(ProducerKind.TRANSFORMED, tr.id, loc, [tr.id], list(transform_templates(tr, loc)), tr)
    for i, mt in enumerate(params.multiturn_attributes):
        loc = f"strategy_params.multiturn_attributes[{i}]"
        templates = [(f"{loc}.role_instruction_messages.{role}", t) for role, t in mt.role_instruction_messages.items()]
        if mt.output_system_prompt is not None:
            templates.append((f"{loc}.output_system_prompt", mt.output_system_prompt))
        if mt.conversation_planner is not None:
            templates.append((f"{loc}.conversation_planner", mt.conversation_planner))
        yield Producer(ProducerKind.MULTITURN, mt.id, loc, [mt.id, f"{mt.id}_plan"], templates, mt)


def build_graph(
    params: StrategyParams,
    pools: Iterable[SourcePool],
    *,
    file: str | None = None,
    report_declared_duplicates: bool = True,
) -> tuple[AttributeGraph, list[ConfigError]]:
    """The graph and every problem found (an empty list means the attributes are consistent).

    With `report_declared_duplicates=False`, two config ids that clash are not reported (the config
    loader's own checks already do); clashes involving source columns or `_plan` names still are.
    """
    errors: list[ConfigError] = []
    graph = nx.DiGraph()
    producers: dict[str, Producer] = {}
    defined_by: dict[str, Producer] = {}
    for producer in _producers(params, pools):
        producers[producer.location] = producer
        graph.add_node(producer.location)
        errors.extend(_config_problems(producer, file))
        for name in producer.outputs:
            if name in RESERVED_ATTRIBUTE_IDS:
                errors.append(_reserved_error(name, producer, file))
                continue
            if name in defined_by:
                both_declared = name in defined_by[name].declared and name in producer.declared
                if both_declared and not report_declared_duplicates:
                    continue
                errors.append(
                    ConfigError(
                        f"attribute {name!r} is defined twice: by {defined_by[name].location} and here",
                        file=file,
                        location=producer.location,
                        hint="give every attribute (and every source column) a unique id; "
                        "rename one, e.g. with attribute_map",
                    )
                )
            else:
                defined_by[name] = producer
    result = AttributeGraph(graph, producers, defined_by)
    for producer in producers.values():
        for where, template in producer.templates:
            for placeholder in find_placeholders(template):
                if placeholder.name in RUNTIME_PLACEHOLDERS:  # filled by the conversation: no edge
                    problem = _runtime_placeholder_problem(placeholder, producer, where)
                else:
                    problem = _reference_problem(placeholder, producer, result)
                if problem:
                    message, hint = problem
                    errors.append(ConfigError(message, file=file, location=where, hint=hint))
                if problem or placeholder.name in RUNTIME_PLACEHOLDERS:
                    continue
                source = defined_by[placeholder.name]
                graph.add_edge(source.location, producer.location)
    errors.extend(_cycle_errors(result, file))
    # passthrough_attributes naming nothing are ignored, as oumi does; `envsim validate` lists them
    # (envsim/config/oumi_differences.py).
    return result, errors


def _config_problems(producer: Producer, file: str | None) -> Iterator[ConfigError]:
    if producer.kind is ProducerKind.GENERATED:
        gen = producer.config
        if gen.output_schema is not None and gen.postprocessing_params is not None:
            yield ConfigError(
                f"generated attribute {gen.id!r} has both output_schema and postprocessing_params",
                file=file,
                location=f"{producer.location}.postprocessing_params",
                hint="post-processing works on text; drop it for structured output (or drop output_schema)",
            )
        if gen.postprocessing_params is not None and gen.postprocessing_params.regex is not None:
            try:
                re.compile(gen.postprocessing_params.regex)
            except re.error as exc:
                yield ConfigError(
                    f"invalid regex {gen.postprocessing_params.regex!r}: {exc}",
                    file=file,
                    location=f"{producer.location}.postprocessing_params.regex",
                )
        if not gen.instruction_messages:
            yield ConfigError(
                f"generated attribute {gen.id!r} has no instruction_messages",
                file=file,
                location=f"{producer.location}.instruction_messages",
            )
    if producer.kind is ProducerKind.TRANSFORMED:
        missing = missing_template_field(producer.config)
        if missing:
            kind = producer.config.transformation_strategy.type.value
            yield ConfigError(
                f"transformed attribute {producer.label!r} is of type {kind} but has no {missing}",
                file=file,
                location=f"{producer.location}.transformation_strategy",
                hint=f"add `{missing}:`",
            )


def _reserved_error(name: str, producer: Producer, file: str | None) -> ConfigError:
    column = name not in producer.declared
    return ConfigError(
        f"attribute ID {name!r} is reserved for multiturn synthesis and cannot be used"
        + (f" (a column of {producer.label})" if column else ""),
        file=file,
        location=producer.location,
        hint=(
            f"rename the column with attribute_map: {{{name}: another_name}}"
            if column
            else f"choose another id; {{{name}}} is filled by the conversation itself"
        ),
    )


def _runtime_placeholder_problem(placeholder: Placeholder, user: Producer, where: str) -> tuple[str, str] | None:
    """oumi fills these only in a conversation's texts, and `{current_turn}` only in its role
    instructions (the texts rendered for each turn); anywhere else oumi fails on a missing value."""
    name = placeholder.name
    if user.kind is not ProducerKind.MULTITURN:
        return (
            f"{placeholder.text} is filled only in a multiturn attribute's texts, not in a {user.kind.value}",
            "remove it here; role_instruction_messages, output_system_prompt and conversation_planner can use it",
        )
    if placeholder.accessors:
        return f"{placeholder.text}: {name!r} is a number, it has no fields", f"write {{{name}}}"
    if name == PER_TURN and ".role_instruction_messages." not in where:
        return (
            f"{placeholder.text} is filled per turn, in role_instruction_messages only; this text is "
            "rendered once per conversation",
            "use {target_turns} here, or move the per-turn wording into the USER or ASSISTANT instruction",
        )
    return None


def _did_you_mean(name: str, candidates: Iterable[str], *, braces: bool = True) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    if not close:
        return ""
    return f"did you mean {{{close[0]}}}? " if braces else f"did you mean {close[0]!r}? "


def _reference_problem(placeholder: Placeholder, user: Producer, graph: AttributeGraph) -> tuple[str, str] | None:
    name = placeholder.name
    known = graph.defined_by
    if name not in known:
        hint = _did_you_mean(name, known) + f"known attributes: {', '.join(sorted(known)) or '(none)'}"
        return f"{placeholder.text} references unknown attribute {name!r}", hint
    source = known[name]
    if source.kind is ProducerKind.MULTITURN:
        return (
            f"{placeholder.text} references {name!r}, which is produced by the conversation itself",
            "templates can use sampled, source, generated and transformed attributes only",
        )
    if source.kind is ProducerKind.SAMPLED:
        return _sampled_problem(placeholder)
    if source.kind is ProducerKind.SOURCE and source.pool is not None:
        return _source_problem(placeholder, source.pool)
    return None


def _sampled_problem(placeholder: Placeholder) -> tuple[str, str] | None:
    path = placeholder.accessors
    allowed = SAMPLED_FIELDS
    ok = (
        not path
        or (len(path) == 1 and path[0] in allowed)
        or (len(path) == 2 and path[0] in allowed and path[1] in allowed[str(path[0])])
    )
    if ok:
        return None
    n = placeholder.name
    return (
        f"{placeholder.text}: a sampled attribute has no such field",
        f"use {{{n}}}, {{{n}.id}}, {{{n}.description}}, {{{n}.parent}} or {{{n}.parent.description}}",
    )


def _source_problem(placeholder: Placeholder, pool: SourcePool) -> tuple[str, str] | None:
    if not pool.few_shot:
        missing_row = pool.first_row_without(placeholder.name)
        if missing_row is None:
            return None
        return (
            f"{placeholder.text}: row {missing_row + 1} of {pool.origin} has no {placeholder.name!r}",
            f"fill {placeholder.name!r} in every row, or stop referencing it",
        )
    shots = int(pool.num_shots or 0)
    if not placeholder.accessors:
        return None  # the whole list, shown as JSON
    index = placeholder.index
    if index is None:
        return (
            f"{placeholder.text}: {placeholder.name!r} is a list of {shots} examples, so it needs an index",
            f"write {{{placeholder.name}[0].{placeholder.accessors[0]}}} (indexes 0 to {shots - 1})",
        )
    if index >= shots:
        return (
            f"{placeholder.text}: index {index} is out of range; {pool.location} has num_shots {shots}",
            f"use indexes 0 to {shots - 1}, or raise num_shots",
        )
    rest = placeholder.accessors[1:]
    if rest and isinstance(rest[0], str) and rest[0] not in pool.fields:
        field_name = rest[0]
        if field_name in pool.all_fields:
            row = pool.first_row_without(field_name)
            return (
                f"{placeholder.text}: row {(row or 0) + 1} of {pool.origin} has no {field_name!r}",
                f"fill {field_name!r} in every row",
            )
        hint = _did_you_mean(f"{placeholder.name}[{index}].{field_name}", _pool_paths(pool, index))
        return (
            f"{placeholder.text}: the examples of {pool.origin} have no field {field_name!r}",
            hint + f"fields: {', '.join(pool.fields) or '(none)'}",
        )
    return None


def _pool_paths(pool: SourcePool, index: int) -> list[str]:
    return [f"{pool.id}[{index}].{f}" for f in pool.fields]


def _cycle_errors(graph: AttributeGraph, file: str | None) -> Iterator[ConfigError]:
    for component in nx.strongly_connected_components(graph.graph):
        node = next(iter(component))
        if len(component) == 1 and not graph.graph.has_edge(node, node):
            continue
        cycle = nx.find_cycle(graph.graph.subgraph(component), source=min(component))
        labels = [graph.producers[u].label for u, _ in cycle]
        path = " -> ".join([*labels, labels[0]])
        yield ConfigError(
            f"attributes depend on each other in a cycle: {path}",
            file=file,
            location=graph.producers[cycle[0][0]].location,
            hint="break the cycle: one of these attributes must not reference the next",
        )

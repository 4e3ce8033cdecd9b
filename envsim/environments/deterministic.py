"""Deterministic environments: each tool is a lookup table from arguments to output.

Entries are keyed by the canonical JSON of their defaults-filled input, so `{"a": 1}` and
`{"a": 1, "b": "default"}` match the same entry. A tool may carry a fallback (`default_output`) for
unmatched calls; without one, an unmatched call is an error that says how the nearest entry differs
without dumping the table into the conversation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from envsim.canonical import canonical_json
from envsim.environments.base import StepContext
from envsim.environments.schema import fill_defaults
from envsim.environments.tool_environment import Outcome, ToolEnvironment
from envsim.errors import ConfigError
from envsim.messages import ToolSpec

_MISSING = object()


@dataclass
class LookupTable:
    entries: dict[str, Any] = field(default_factory=dict)  # canonical input -> output
    inputs: list[dict[str, Any]] = field(default_factory=list)  # defaults-filled, for "nearest entry"
    fallback: Any = _MISSING

    @property
    def has_fallback(self) -> bool:
        return self.fallback is not _MISSING


class DeterministicEnvironment(ToolEnvironment):
    kind = "deterministic"

    def __init__(
        self,
        id: str,
        tools: list[ToolSpec],
        tables: dict[str, LookupTable],
        state: dict[str, Any] | None = None,
        state_schema: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(id, tools, state, state_schema)
        self.tables = tables

    @staticmethod
    def build_table(
        tool: ToolSpec, rows: list[tuple[dict[str, Any], Any]], *, has_fallback: bool = False, fallback: Any = None
    ) -> LookupTable:
        """Index `(input, output)` rows; a duplicate input (after defaults) is a ConfigError.

        `has_fallback` says whether `fallback` (which may legitimately be null) answers unmatched calls."""
        table = LookupTable(fallback=fallback if has_fallback else _MISSING)
        for index, (raw_input, output) in enumerate(rows):
            filled = fill_defaults(tool.parameters, raw_input)
            key = canonical_json(filled)
            if key in table.entries:
                raise ConfigError(
                    f"tool {tool.name!r}: deterministic_outputs[{index}] has the same input as an earlier entry "
                    "(after filling schema defaults)",
                    hint="remove the duplicate or make the inputs differ",
                )
            table.entries[key] = output
            table.inputs.append(filled)
        return table

    async def _run(self, tool: ToolSpec, arguments: dict[str, Any], context: StepContext) -> Outcome:
        table = self.tables.get(tool.name, LookupTable())
        output = table.entries.get(canonical_json(arguments), _MISSING)
        if output is _MISSING and table.has_fallback:
            output = table.fallback
        if output is _MISSING:
            return Outcome(error=_unmatched_message(tool.name, arguments, table.inputs))
        return Outcome(output=output)


def _unmatched_message(tool: str, arguments: dict[str, Any], inputs: list[dict[str, Any]]) -> str:
    if not inputs:
        return f"tool {tool!r} has no entry for these arguments (its table is empty)"
    nearest = min(inputs, key=lambda entry: (len(_differing_keys(arguments, entry)), canonical_json(entry)))
    differing = _differing_keys(arguments, nearest)
    count = len(inputs)
    noun = "entry" if count == 1 else "entries"
    return (
        f"tool {tool!r} has no entry for these arguments ({count} {noun} known); "
        f"the nearest entry differs in: {', '.join(differing)}"
    )


def _differing_keys(arguments: dict[str, Any], entry: dict[str, Any]) -> list[str]:
    # Only key names: values of other entries must not leak into the conversation.
    keys = set(arguments) | set(entry)
    return sorted(
        k
        for k in keys
        if k not in arguments or k not in entry or canonical_json(arguments[k]) != canonical_json(entry[k])
    )

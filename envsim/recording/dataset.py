"""The seed's dataset file (`output_path`): one JSON line per clean sample, attribute ids as keys.

A line holds every attribute of the sample plus, for the multi-turn attribute `{id}`:
    "{id}":      {"messages": [OpenAI chat messages], "tools": [OpenAI function tools]} ("tools" only
                 when the conversation had tools)
    "{id}_plan": the plan as a JSON string ("" when planning failed)
These are the keys and value shapes oumi synth writes for the same config.
Only clean episodes are written (`envsim.recording.clean`): failed ones and those with an infrastructure
error are counted instead. Every message has a `content` key (null on an assistant message that only
calls tools), as the OpenAI wire format and oumi's loaders expect.
`passthrough` (the config's `passthrough_attributes`) keeps exactly the named keys, in that order (and
oumi's bracket paths such as `examples[0].field`, under that name); None keeps everything. Name the
conversation id (and `{id}_plan`) to keep them when filtering.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from envsim.errors import DataError
from envsim.messages import Message
from envsim.recording import jsonl
from envsim.recording.clean import FAILED, INFRASTRUCTURE_ERROR, clean_problem
from envsim.recording.trace import Trace


@dataclass
class DatasetReport:
    path: Path
    written: int = 0
    skipped_failed: int = 0
    # successful episodes left out because a step failed inside envsim or the model layer
    skipped_infrastructure: list[str] = field(default_factory=list)
    # passthrough keys that no written sample had: almost always a typo in passthrough_attributes
    unknown_passthrough: list[str] = field(default_factory=list)
    # written samples with a generated attribute cut off at the token limit (trace.truncated_attributes)
    truncated_attributes: list[str] = field(default_factory=list)


def wire_message(message: Message) -> dict[str, Any]:
    """The OpenAI chat shape, `content` always present (null when an assistant message only calls tools)."""
    data = message.to_openai()
    data.setdefault("content", None)
    return {"role": data.pop("role"), "content": data.pop("content"), **data}


def sample_record(trace: Trace) -> dict[str, Any]:
    """All keys of one sample: its attributes, then the conversation and its plan."""
    record: dict[str, Any] = dict(trace.attributes)
    if trace.conversation_id:
        conversation: dict[str, Any] = {"messages": [wire_message(m) for m in trace.messages]}
        if trace.tools:  # oumi leaves the key out of a conversation without tools
            conversation["tools"] = [t.to_openai() for t in trace.tools]
        record[trace.conversation_id] = conversation
        # oumi's shape: the planner's JSON as a string ("" when planning failed)
        record[f"{trace.conversation_id}_plan"] = (
            json.dumps(trace.plan.model_dump(mode="json"), ensure_ascii=False) if trace.plan else ""
        )
    return record


def write_dataset(
    traces: Iterable[Trace], output_path: str | os.PathLike[str], *, passthrough: list[str] | None = None
) -> DatasetReport:
    """Write clean samples atomically to `output_path`; count the others (failed, infrastructure error)."""
    report = DatasetReport(path=Path(output_path))
    seen_keys: set[str] = set()

    def lines() -> Iterator[bytes]:
        for trace in traces:
            problem = clean_problem(trace)
            if problem == FAILED:
                report.skipped_failed += 1
                continue
            if problem == INFRASTRUCTURE_ERROR:
                report.skipped_infrastructure.append(trace.episode_id)
                continue
            record = sample_record(trace)
            seen_keys.update(record)
            if passthrough is not None:
                record = select_passthrough(record, passthrough)
            report.written += 1
            if trace.truncated_attributes:
                report.truncated_attributes.append(trace.episode_id)
            yield jsonl.dumps_line(record)

    try:
        jsonl.atomic_write_bytes(report.path, lines())
    except OSError as exc:
        raise DataError(
            f"cannot write the dataset file {report.path}: {exc.strerror or exc}",
            hint="set output_path to a writable file path",
        ) from exc
    if passthrough is not None:
        report.unknown_passthrough = [key for key in passthrough if _root(key) not in seen_keys]
    return report


_PATH_PART = re.compile(r"([^\[\].]+|\[\d+\])")


def _root(name: str) -> str:
    return name.split("[", 1)[0] if "[" in name else name


def select_passthrough(record: dict[str, Any], passthrough: list[str]) -> dict[str, Any]:
    """The named keys, in that order; oumi's bracket paths (`examples[0].field`) are kept under the
    full path as the key; names that match nothing are left out (as oumi does)."""
    selected: dict[str, Any] = {}
    for name in passthrough:
        if "[" not in name or "]" not in name:
            if name in record:
                selected[name] = record[name]
            continue
        current: Any = record
        try:
            for part in _PATH_PART.findall(name):
                current = current[int(part[1:-1])] if part.startswith("[") else current[part]
        except (KeyError, IndexError, TypeError, ValueError):
            continue
        selected[name] = current
    return selected

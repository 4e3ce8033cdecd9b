"""Reading seed pairs: a JSONL file of {"llm_input", "llm_output"} objects (or a JSON list of them)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from envsim.errors import DataError
from envsim.pairs.types import Example

_HINT = 'write one {"llm_input": "...", "llm_output": "..."} object per line'


def load_seeds(path: str | Path) -> list[Example]:
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise DataError(f"cannot read the seeds file {file}: {exc.strerror or exc}", hint=_HINT) from exc
    if file.suffix == ".json":
        try:
            records: list[tuple[str, Any]] = [(f"{file}[{i}]", r) for i, r in enumerate(json.loads(text))]
        except (json.JSONDecodeError, TypeError) as exc:
            raise DataError(f"{file}: not a JSON list of seed pairs: {exc}", hint=_HINT) from exc
    else:
        records = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                records.append((f"{file}, line {number}", json.loads(line)))
            except json.JSONDecodeError as exc:
                raise DataError(f"{file}, line {number}: not valid JSON ({exc.msg})", hint=_HINT) from exc
    seeds = [_example(where, record) for where, record in records]
    if not seeds:
        raise DataError(f"{file} has no seed pairs", hint=_HINT)
    return seeds


def _example(where: str, record: Any) -> Example:
    try:
        return Example.model_validate(record)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'line'}: {e['msg']}" for e in exc.errors()[:3])
        raise DataError(f"{where}: not a seed pair ({problems})", hint=_HINT) from exc

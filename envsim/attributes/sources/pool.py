"""A source's rows, and how a sample picks from them.

`num_shots` None or 1: round-robin, row `index mod len(rows)`, whose fields become attributes.
`num_shots` k > 1: k distinct rows drawn per sample (seeded by seed, index and source id), stored as a
list under the source's id, for templates like `{examples[0].question}`.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import math
import random
from dataclasses import dataclass
from typing import Any

from envsim.errors import DataError


@dataclass
class SourcePool:
    id: str | None
    location: str  # e.g. strategy_params.input_data[0]
    origin: str  # what the rows came from, for messages (a path pattern, or "inline examples")
    rows: list[dict[str, Any]]
    num_shots: int | None = None

    @property
    def few_shot(self) -> bool:
        return self.num_shots is not None and self.num_shots > 1

    @property
    def fields(self) -> list[str]:
        """Fields every row has (what templates can rely on), in first-row order."""
        if not self.rows:
            return []
        common = set(self.rows[0]).intersection(*self.rows[1:])
        return [k for k in self.rows[0] if k in common]

    @property
    def all_fields(self) -> list[str]:
        seen: dict[str, None] = {}
        for row in self.rows:
            seen.update(dict.fromkeys(row))
        return list(seen)

    def first_row_without(self, field: str) -> int | None:
        return next((i for i, row in enumerate(self.rows) if field not in row), None)

    def pick(self, index: int, seed: int) -> dict[str, Any]:
        """The attributes this source contributes to sample `index`."""
        if self.few_shot:
            rng = random.Random(f"{seed}:{index}:{self.id}")
            return {str(self.id): [dict(r) for r in rng.sample(self.rows, int(self.num_shots or 0))]}
        return dict(self.rows[index % len(self.rows)])


def to_json_value(value: Any, where: str) -> Any:
    """Cell values from tables (dates, decimals, bytes, NaN) as plain JSON data."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return base64.b64encode(value).decode("ascii")
    if isinstance(value, dict):
        return {str(k): to_json_value(v, where) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json_value(v, where) for v in value]
    raise DataError(f"{where}: cannot use a {type(value).__name__} value as attribute data")

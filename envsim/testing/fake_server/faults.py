"""Which requests the fake server answers badly, and how.

A `FaultPlan` combines three sources, checked in this order for every request:
1. faults queued at run time (`plan.inject("rate_limit", times=3)`: the next three requests);
2. an explicit schedule by request index (`schedule={0: "server_error", 5: "drop"}`, 0-based, counted
   over all requests the server receives);
3. random rates (`rates={"rate_limit": 0.1}`), drawn from a seeded RNG so a run is reproducible.
"""

from __future__ import annotations

import random
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal, get_args

FaultKind = Literal[
    "rate_limit",  # 429 with Retry-After
    "server_error",  # 500
    "overloaded",  # 529 (Anthropic shape); 503 on the OpenAI path
    "bad_request",  # 400 (a non-retryable client error)
    "drop",  # close the connection without answering
    "hang",  # never answer (until hang_seconds pass): the client times out
    "malformed_json",  # 200 with a truncated JSON body
    "bad_tool_args",  # a tool call whose arguments are not valid JSON (cut in half)
    "sloppy_tool_args",  # a tool call whose arguments are almost JSON: single quotes, a trailing comma
]
FAULT_KINDS: tuple[str, ...] = get_args(FaultKind)

Latency = float | Callable[[], float]


@dataclass
class FaultPlan:
    rates: Mapping[str, float] = field(default_factory=dict)
    schedule: Mapping[int, str] = field(default_factory=dict)
    retry_after: float | None = 1.0  # seconds sent in Retry-After on 429/529 (None: no header)
    hang_seconds: float = 30.0
    seed: int = 0

    def __post_init__(self) -> None:
        for kind in [*self.rates, *self.schedule.values()]:
            if kind not in FAULT_KINDS:
                raise ValueError(f"unknown fault {kind!r}; known: {', '.join(FAULT_KINDS)}")
        self._rng = random.Random(self.seed)
        self._queued: deque[str] = deque()
        self._lock = threading.Lock()  # inject() may be called from the test's thread

    def inject(self, kind: str, times: int = 1) -> None:
        """Answer the next `times` requests with fault `kind`."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; known: {', '.join(FAULT_KINDS)}")
        with self._lock:
            self._queued.extend([kind] * times)

    def clear(self) -> None:
        with self._lock:
            self._queued.clear()

    def pick(self, index: int) -> str | None:
        """The fault for request number `index`, or None to answer normally."""
        with self._lock:
            if self._queued:
                return self._queued.popleft()
        if index in self.schedule:
            return self.schedule[index]
        if self.rates:
            draw = self._rng.random()
            for kind, rate in self.rates.items():
                if draw < rate:
                    return kind
                draw -= rate
        return None


def latency_seconds(latency: Latency) -> float:
    value = latency() if callable(latency) else latency
    return max(0.0, float(value))

"""Plain functions (no decorator) named by `handler:` references in tests."""

from __future__ import annotations

from datetime import datetime


def add(a: int, b: int = 2) -> int:
    """Add two numbers.

    Args:
        a: The first number.
        b: The second number.
    """
    return a + b


def explode(reason: str) -> None:
    raise ValueError(f"cannot do that: {reason}")


def not_json() -> object:
    return datetime(2024, 1, 1)


def write_state(state: dict) -> str:
    state["touched"] = True
    return "ok"

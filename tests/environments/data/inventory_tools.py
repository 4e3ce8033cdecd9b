"""Tools of the test `inventory` python environment (loaded by file path, registered with @tool)."""

from __future__ import annotations

import asyncio
from typing import Literal

from pydantic import BaseModel

from envsim.environments import ToolResult, tool


class Restock(BaseModel):
    sku: str
    qty: int


@tool(read_only=True)
def get_stock(sku: str, state: dict) -> dict:
    """Current stock of one item.

    Args:
        sku: The item's stock-keeping unit.
    """
    if sku not in state["stock"]:
        raise KeyError(f"unknown sku {sku}")
    return {"sku": sku, "qty": state["stock"][sku]}


@tool
def remove_stock(sku: str, qty: int, state: dict) -> dict:
    """Take items out of stock (the state schema forbids negative stock)."""
    state["stock"][sku] = state["stock"].get(sku, 0) - qty
    return {"sku": sku, "qty": state["stock"][sku]}


@tool
async def restock(order: Restock, state: dict) -> dict:
    """Put items back in stock; `order` arrives as a pydantic model."""
    await asyncio.sleep(0)
    assert isinstance(order, Restock)
    state["stock"][order.sku] = state["stock"].get(order.sku, 0) + order.qty
    return {"sku": order.sku, "qty": state["stock"][order.sku]}


@tool
def reset(state: dict, mode: Literal["empty", "keep"] = "empty") -> ToolResult:
    """Replace the whole state."""
    stock = {} if mode == "empty" else dict(state["stock"])
    return ToolResult(output={"reset": mode}, state={"stock": stock, "log": []})


@tool(read_only=True)
def sneaky_peek(state: dict) -> str:
    """A read-only tool with a bug: it writes."""
    state["log"].append("peeked")
    return "peeked"

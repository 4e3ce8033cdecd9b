"""SDK clients spread over several connection pools, one set per event loop.

httpx's connection pool (httpcore) re-scans every connection it holds on each request it starts and
on each one it finishes, so its cost per request grows with the number of open connections: at a
hundred or more concurrent requests that scan is a large part of the client's CPU. Several clients
with their own pools keep each pool small. A request goes to the client with the fewest requests in
flight, and a new client is opened only when every existing one already has `shard_size` in flight,
so a low-concurrency run keeps using one client (one pool, warm keep-alive connections).

Clients (and their pools) belong to the event loop that made them; a new loop (asyncio.run again)
gets new clients.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

ClientT = TypeVar("ClientT")

DEFAULT_SHARD_SIZE = 16
DEFAULT_MAX_SHARDS = 16


class ClientShards(Generic[ClientT]):
    """`client, ticket = shards.acquire()` lends the least-busy client of the running loop;
    `shards.release(ticket)` hands it back (in a `finally`).

    `factory(connections)` builds a client whose pool holds at most `connections` connections;
    `close(client)` closes one. At most `max_shards` clients are opened, sharing `max_connections`."""

    def __init__(
        self,
        factory: Callable[[int], ClientT],
        close: Callable[[ClientT], Awaitable[Any]],
        *,
        max_connections: int,
        shard_size: int = DEFAULT_SHARD_SIZE,
        max_shards: int = DEFAULT_MAX_SHARDS,
    ) -> None:
        self._factory = factory
        self._close = close
        self.shard_size = max(1, shard_size)
        self.max_shards = max(1, min(max_shards, -(-max_connections // self.shard_size)))
        self.connections_per_shard = max(1, -(-max_connections // self.max_shards))
        self._clients: list[ClientT] = []
        self._in_flight: list[int] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._generation = 0

    def __len__(self) -> int:
        return len(self._clients)

    def acquire(self) -> tuple[ClientT, tuple[int, int]]:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            # The old loop's clients cannot be used (nor closed) from this loop; drop them.
            self._clients, self._in_flight, self._loop = [], [], loop
            self._generation += 1
        in_flight = self._in_flight
        best = min(range(len(in_flight)), key=in_flight.__getitem__) if in_flight else -1
        if best < 0 or (in_flight[best] >= self.shard_size and len(in_flight) < self.max_shards):
            self._clients.append(self._factory(self.connections_per_shard))
            in_flight.append(0)
            best = len(in_flight) - 1
        in_flight[best] += 1
        return self._clients[best], (self._generation, best)

    def release(self, ticket: tuple[int, int]) -> None:
        generation, index = ticket
        if generation == self._generation:  # not reset by a loop change or aclose meanwhile
            self._in_flight[index] -= 1

    async def aclose(self) -> None:
        """Close the clients of the running loop (clients of another loop are just dropped)."""
        clients, loop = self._clients, self._loop
        self._clients, self._in_flight, self._loop = [], [], None
        self._generation += 1
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            return
        if loop is running:
            for client in clients:
                await self._close(client)

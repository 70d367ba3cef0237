"""A per-process cache of the expensive closed-trade aggregates (the daily series, the drawdown
scan, and the currencies a strategy's trades were made in), each a scan of every closed trade in
scope.

Correctness does not rest on the TTL. Every entry is stored with a data version: how many closed
trades the caller can see. A trade mirrored as closed raises it, so an entry computed before that
trade was there is recomputed. The version is read from committed state (not the newest event id,
which concurrent transactions can commit out of order) and before computing, so a trade committed
during the computation can only cause one needless recompute, never a stale hit. The key holds
the caller (user and admin flag), every parameter, and the ids of the bots in scope (a deleted bot
takes its trades with it, which lowers the count). Open trades, balances and snapshots are never
cached. The TTL (the seed's 600 s for analytics) only bounds what an in-place correction to an
already-closed trade could leave behind, and the memory a process holds. Each server process has
its own cache; they all check the shared database.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

from fastapi import Request

V = TypeVar("V")

ANALYTICS_TTL_SECONDS = 600.0
MAX_ENTRIES = 512


class ResultCache:
    def __init__(self, ttl: float = ANALYTICS_TTL_SECONDS, max_entries: int = MAX_ENTRIES) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: OrderedDict[Hashable, tuple[float, int, Any]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    async def get_or_compute(
        self, key: Hashable, version: int, compute: Callable[[], Awaitable[V]]
    ) -> V:
        entry = self._entries.get(key)
        if entry is not None and entry[1] == version and entry[0] > time.monotonic():
            self._entries.move_to_end(key)
            self.hits += 1
            value: V = entry[2]
            return value
        self.misses += 1
        value = await compute()
        self._entries[key] = (time.monotonic() + self.ttl, version, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return value

    def clear(self) -> None:
        self._entries.clear()


def get_result_cache(request: Request) -> ResultCache:
    """The application's analytics cache, made on first use."""
    cache: ResultCache | None = getattr(request.app.state, "analytics_cache", None)
    if cache is None:
        cache = ResultCache()
        request.app.state.analytics_cache = cache
    return cache

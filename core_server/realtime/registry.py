"""Who is connected: the open WebSocket connections of this process, and with Redis those of
every process, so the per-user limit and the admin's list hold across API replicas.

Each process keeps its own connections in memory and mirrors them to Redis: a JSON snapshot
per connection, and sorted sets (per user and overall) scored by when the entry expires. A
process refreshes its entries every REFRESH_SECONDS; one that dies without saying goodbye
drops out after ENTRY_TTL_SECONDS. Redis trouble never refuses a connection: the limit then
counts this process only, as the rate limiter fails open too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from typing import Any, Literal, Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from core_server.auth.principal import Principal
from core_server.realtime.errors import TooManyConnections
from core_server.realtime.schemas import ConnectionPage, ConnectionRead

logger = logging.getLogger(__name__)

# The seed: "WebSocket connections: 50 concurrent connections per user".
MAX_CONNECTIONS_PER_USER = 50
REFRESH_SECONDS = 15.0
ENTRY_TTL_SECONDS = 45.0


class Tracked(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def user_id(self) -> int: ...

    def info(self) -> ConnectionRead: ...


def server_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class ConnectionRegistry:
    def __init__(
        self, redis: Redis | None, prefix: str, limit: int = MAX_CONNECTIONS_PER_USER
    ) -> None:
        self.redis = redis
        self.prefix = f"{prefix}:ws"
        self.limit = limit
        self.server = server_name()
        self._local: dict[str, Tracked] = {}
        self._refresher: asyncio.Task[None] | None = None

    @property
    def local_count(self) -> int:
        return len(self._local)

    def _user_key(self, user_id: int) -> str:
        return f"{self.prefix}:user:{user_id}"

    def _conn_key(self, connection_id: str) -> str:
        return f"{self.prefix}:conn:{connection_id}"

    @property
    def _all_key(self) -> str:
        return f"{self.prefix}:all"

    def _refuse(self) -> TooManyConnections:
        return TooManyConnections(
            f"You already have {self.limit} WebSocket connections open; close one first.",
            details={"limit": self.limit},
        )

    async def add(self, connection: Tracked) -> None:
        """Count the connection against its user's limit, or raise TooManyConnections."""
        mine = sum(1 for c in self._local.values() if c.user_id == connection.user_id)
        if mine >= self.limit:
            raise self._refuse()
        if self.redis is not None:
            try:
                admitted = await self._add_shared(connection)
            except (RedisError, OSError):
                logger.warning("Redis unavailable; WebSocket limit counts this process only")
            else:
                if not admitted:
                    raise self._refuse()
        self._local[connection.id] = connection
        if self.redis is not None and self._refresher is None:
            self._refresher = asyncio.get_running_loop().create_task(self._refresh_forever())

    async def _add_shared(self, connection: Tracked) -> bool:
        assert self.redis is not None  # noqa: S101 - only called with Redis
        now = time.time()
        user_key = self._user_key(connection.user_id)
        # Add first, then count: two processes racing for the last place may both refuse,
        # but never both admit.
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(user_key, "-inf", now)
            pipe.zadd(user_key, {connection.id: now + ENTRY_TTL_SECONDS})
            pipe.zcard(user_key)
            pipe.expire(user_key, int(ENTRY_TTL_SECONDS))
            results: list[Any] = await pipe.execute()
        if int(results[2]) > self.limit:
            await self.redis.zrem(user_key, connection.id)
            return False
        await self._publish([connection])
        return True

    async def _publish(self, connections: list[Tracked]) -> None:
        assert self.redis is not None  # noqa: S101 - only called with Redis
        if not connections:
            return
        expires = time.time() + ENTRY_TTL_SECONDS
        ttl = int(ENTRY_TTL_SECONDS)
        async with self.redis.pipeline(transaction=False) as pipe:
            for connection in connections:
                user_key = self._user_key(connection.user_id)
                pipe.set(self._conn_key(connection.id), connection.info().model_dump_json(), ex=ttl)
                pipe.zadd(user_key, {connection.id: expires})
                pipe.expire(user_key, ttl)
                pipe.zadd(self._all_key, {connection.id: expires})
            pipe.expire(self._all_key, ttl)
            await pipe.execute()

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_SECONDS)
            snapshot = list(self._local.values())
            try:
                await self._publish(snapshot)
                # A connection that closed while this refresh was under way was just written
                # back: take it out again, or it would count against its user until it expires.
                for connection in snapshot:
                    if connection.id not in self._local:
                        await self._forget(connection)
            except (RedisError, OSError):
                logger.warning("Redis unavailable; WebSocket connections not refreshed there")

    async def remove(self, connection: Tracked) -> None:
        self._local.pop(connection.id, None)
        if not self._local and self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
            self._refresher = None
        if self.redis is None:
            return
        try:
            await self._forget(connection)
        except (RedisError, OSError):
            logger.warning("Redis unavailable; connection %s expires there later", connection.id)

    async def _forget(self, connection: Tracked) -> None:
        assert self.redis is not None  # noqa: S101 - only called with Redis
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.delete(self._conn_key(connection.id))
            pipe.zrem(self._user_key(connection.user_id), connection.id)
            pipe.zrem(self._all_key, connection.id)
            await pipe.execute()

    async def page(self, principal: Principal, *, limit: int, offset: int) -> ConnectionPage:
        """Admins see every connection, users their own: of all processes when Redis answers."""
        items = [
            c.info()
            for c in self._local.values()
            if principal.is_admin or c.user_id == principal.user_id
        ]
        scope: Literal["cluster", "process"] = "process"
        if self.redis is not None:
            try:
                items += await self._remote(principal)
                scope = "cluster"
            except (RedisError, OSError):
                logger.warning("Redis unavailable; listing this process's connections only")
        items.sort(key=lambda c: (c.connected_at, c.id))
        return ConnectionPage(
            items=items[offset : offset + limit],
            total=len(items),
            limit=limit,
            offset=offset,
            scope=scope,
            max_per_user=self.limit,
        )

    async def _remote(self, principal: Principal) -> list[ConnectionRead]:
        assert self.redis is not None  # noqa: S101 - only called with Redis
        key = self._all_key if principal.is_admin else self._user_key(principal.user_id)
        await self.redis.zremrangebyscore(key, "-inf", time.time())
        ids = [_text(raw) for raw in await self.redis.zrange(key, 0, -1)]
        ids = [connection_id for connection_id in ids if connection_id not in self._local]
        if not ids:
            return []
        snapshots = await self.redis.mget([self._conn_key(i) for i in ids])
        return [ConnectionRead.model_validate_json(raw) for raw in snapshots if raw]


def _text(raw: object) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)

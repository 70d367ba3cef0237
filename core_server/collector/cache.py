"""The latest state of every bot: in Redis when configured (shared by all server processes,
expiring after the seed's 60 s for bot status), in memory otherwise."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from core_server.collector.schemas import BotLiveState

logger = logging.getLogger(__name__)

BOT_STATUS_TTL_SECONDS = 60


class LiveStateCache:
    def __init__(self, redis: Redis | None = None, prefix: str = "multibot") -> None:
        self.redis = redis
        self.prefix = prefix
        self._local: dict[int, tuple[float, BotLiveState]] = {}

    def _key(self, bot_id: int) -> str:
        return f"{self.prefix}:bot-state:{bot_id}"

    async def put(self, state: BotLiveState) -> None:
        self._local[state.bot_id] = (time.monotonic() + BOT_STATUS_TTL_SECONDS, state)
        if self.redis is not None:
            try:
                await self.redis.set(
                    self._key(state.bot_id), state.model_dump_json(), ex=BOT_STATUS_TTL_SECONDS
                )
            except (RedisError, OSError):
                logger.warning("Redis unavailable; bot state kept in this process only")

    async def get_many(self, bot_ids: Iterable[int]) -> dict[int, BotLiveState]:
        ids = list(bot_ids)
        found: dict[int, BotLiveState] = {}
        if self.redis is not None and ids:
            try:
                values = await self.redis.mget([self._key(i) for i in ids])
                for value in values:
                    if value:
                        state = BotLiveState.model_validate_json(value)
                        found[state.bot_id] = state
                return found
            except (RedisError, OSError):
                logger.warning("Redis unavailable; reading this process's bot states")
        now = time.monotonic()
        for bot_id in ids:
            entry = self._local.get(bot_id)
            if entry and entry[0] > now:
                found[bot_id] = entry[1]
        return found

    async def forget(self, bot_id: int) -> None:
        self._local.pop(bot_id, None)
        if self.redis is not None:
            try:
                await self.redis.delete(self._key(bot_id))
            except (RedisError, OSError):
                pass

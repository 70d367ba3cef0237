"""The latest state of every bot: in Redis when configured (shared by all server processes,
expiring after the seed's 60 s for bot status), in memory otherwise.

The process that collects a bot holds its state in memory as well and reads it from there: it
wrote what Redis has, so at 1,000 bots an analytics request costs no `MGET` and no JSON parsing
in that process. Other processes read Redis, and parse a bot's JSON again only when it changed.
`release` ends that when collection of a bot moves away (or stops), so a stale local copy never
hides a fresher one in Redis."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from core_server.collector.schemas import BotLiveState

logger = logging.getLogger(__name__)

BOT_STATUS_TTL_SECONDS = 60
FLUSH_SECONDS = 0.1


class LiveStateCache:
    def __init__(self, redis: Redis | None = None, prefix: str = "multibot") -> None:
        self.redis = redis
        self.prefix = prefix
        self._local: dict[int, tuple[float, BotLiveState]] = {}
        # The last JSON read from Redis for a bot, and what it parsed to.
        self._parsed: dict[int, tuple[bytes, BotLiveState]] = {}
        self._unsent: dict[int, BotLiveState] = {}
        self._flusher: asyncio.Task[None] | None = None

    def _key(self, bot_id: int) -> str:
        return f"{self.prefix}:bot-state:{bot_id}"

    async def put(self, state: BotLiveState) -> None:
        """Keep the state here at once; it reaches Redis with the next batch, within
        `FLUSH_SECONDS` (one round trip for a whole burst of bots instead of one each)."""
        self._local[state.bot_id] = (time.monotonic() + BOT_STATUS_TTL_SECONDS, state)
        if self.redis is None:
            return
        self._unsent[state.bot_id] = state
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush_soon())

    async def _flush_soon(self) -> None:
        await asyncio.sleep(FLUSH_SECONDS)
        await self.flush()

    async def flush(self) -> None:
        batch, self._unsent = self._unsent, {}
        if self.redis is None or not batch:
            return
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for bot_id, state in batch.items():
                    pipe.set(self._key(bot_id), state.model_dump_json(), ex=BOT_STATUS_TTL_SECONDS)
                await pipe.execute()
        except (RedisError, OSError):
            logger.warning("Redis unavailable; %d bot states kept in this process only", len(batch))

    async def close(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        await self.flush()

    async def get_many(self, bot_ids: Iterable[int]) -> dict[int, BotLiveState]:
        found: dict[int, BotLiveState] = {}
        now = time.monotonic()
        missing: list[int] = []
        for bot_id in bot_ids:
            entry = self._local.get(bot_id)
            if entry is not None and entry[0] > now:
                found[bot_id] = entry[1]
            else:
                missing.append(bot_id)
        if self.redis is None or not missing:
            return found
        try:
            values = await self.redis.mget([self._key(i) for i in missing])
        except (RedisError, OSError):
            logger.warning("Redis unavailable; reading this process's bot states only")
            return found
        for bot_id, value in zip(missing, values, strict=True):
            if not value:
                self._parsed.pop(bot_id, None)
                continue
            raw = value if isinstance(value, bytes) else str(value).encode()
            known = self._parsed.get(bot_id)
            if known is not None and known[0] == raw:
                found[bot_id] = known[1]
                continue
            state = BotLiveState.model_validate_json(raw)
            self._parsed[bot_id] = (raw, state)
            found[bot_id] = state
        return found

    def release(self, bot_id: int) -> None:
        """This process no longer collects the bot: read its state from Redis from now on."""
        if self.redis is not None:
            self._local.pop(bot_id, None)

    async def forget(self, bot_id: int) -> None:
        self._local.pop(bot_id, None)
        self._unsent.pop(bot_id, None)
        self._parsed.pop(bot_id, None)
        if self.redis is not None:
            try:
                await self.redis.delete(self._key(bot_id))
            except (RedisError, OSError):
                pass

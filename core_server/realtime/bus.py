"""Delivering events to every subscriber in every server process.

Without Redis, events fan out inside the process. With REDIS_URL, every process publishes to
one Redis channel and relays what arrives there to its own subscribers, so a client connected
to any process receives every bot's events. Subscribers have bounded queues: a client that
does not keep up loses the oldest events (and can fetch them again from the feed by id)
rather than slowing the rest. When a process loses the Redis channel for a while, each of its
subscribers is told so (a `None` in its queue): events may have passed it by, and the database
has them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from redis.asyncio import Redis
from redis.exceptions import RedisError

from core_server.activity.schemas import EventRead

logger = logging.getLogger(__name__)

QUEUE_SIZE = 1000


class Subscription:
    def __init__(self, bus: EventBus) -> None:
        self._bus = bus
        # An event, or None: events may have been missed (the bus lost Redis for a while).
        self.queue: asyncio.Queue[EventRead | None] = asyncio.Queue(QUEUE_SIZE)
        self.dropped = 0

    def offer(self, event: EventRead | None) -> None:
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(event)

    async def get(self) -> EventRead | None:
        return await self.queue.get()

    def close(self) -> None:
        self._bus.unsubscribe(self)


class EventBus:
    """In-process delivery; `RedisEventBus` adds delivery between processes."""

    def __init__(self) -> None:
        self._subscribers: set[Subscription] = set()
        self._pending: set[asyncio.Task[None]] = set()

    def subscribe(self) -> Subscription:
        subscription = Subscription(self)
        self._subscribers.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscribers.discard(subscription)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def deliver(self, event: EventRead | None) -> None:
        for subscription in list(self._subscribers):
            subscription.offer(event)

    async def publish(self, event: EventRead) -> None:
        self.deliver(event)

    def publish_soon(self, event: EventRead) -> None:
        """Publish from synchronous code (an after-commit hook)."""
        task = asyncio.get_running_loop().create_task(self.publish(event))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        for task in list(self._pending):
            with contextlib.suppress(Exception):
                await task


class RedisEventBus(EventBus):
    def __init__(self, redis: Redis, prefix: str) -> None:
        super().__init__()
        self.redis = redis
        self.channel = f"{prefix}:events"
        self._listener: asyncio.Task[None] | None = None

    async def publish(self, event: EventRead) -> None:
        try:
            await self.redis.publish(self.channel, event.model_dump_json())
        except (RedisError, OSError):
            # Redis down: this process's own clients still get the event; the feed keeps it.
            logger.warning("Redis unavailable; event %s delivered locally only", event.id)
            self.deliver(event)

    async def start(self) -> None:
        self._listener = asyncio.get_running_loop().create_task(self._listen())

    async def _listen(self) -> None:
        """Relay the channel to local subscribers, reconnecting after a Redis outage."""
        delay = 0.5
        lost = False
        while True:
            try:
                async with self.redis.pubsub() as pubsub:
                    await pubsub.subscribe(self.channel)
                    delay = 0.5
                    if lost:
                        # Other processes' events of the outage never reached us.
                        logger.info("Redis event channel back; subscribers catch up")
                        self.deliver(None)
                        lost = False
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            self.deliver(EventRead.model_validate_json(message["data"]))
            except asyncio.CancelledError:
                raise
            except Exception:
                lost = True
                logger.warning("lost the Redis event channel; retrying in %.1f s", delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    async def close(self) -> None:
        await super().close()
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener

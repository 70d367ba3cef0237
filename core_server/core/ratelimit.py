"""Per-client request limits (the seed: 100/min authenticated, 10/min anonymous).

Counters live in Redis when REDIS_URL is set, so every server process shares them, and in
memory otherwise. The limiter fails open: a Redis outage must not take the API down with it.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from limits import RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import FixedWindowRateLimiter
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core_server.core.errors import RateLimited, error_response

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClientIdentity:
    key: str  # "user:<id>" or "ip:<address>"
    authenticated: bool


IdentifyClient = Callable[[Request], Awaitable[ClientIdentity]]

# Liveness, metrics and the dashboard's static files are not counted.
UNCOUNTED_PATHS = frozenset({"/health", "/metrics"})
COUNTED_PREFIXES = ("/api/", "/mcp", "/docs", "/redoc", "/openapi.json")


def is_counted(path: str) -> bool:
    return path not in UNCOUNTED_PATHS and path.startswith(COUNTED_PREFIXES)


def make_storage(redis_url: str | None, prefix: str) -> Storage:
    if redis_url:
        uri = redis_url.replace("redis://", "async+redis://", 1).replace(
            "rediss://", "async+rediss://", 1
        )
        return RedisStorage(uri, implementation="redispy", key_prefix=f"{prefix}:ratelimit")
    return MemoryStorage()


class RateLimitMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        storage: Storage,
        identify: IdentifyClient,
        authenticated_per_minute: int,
        anonymous_per_minute: int,
    ) -> None:
        self.app = app
        self.limiter = FixedWindowRateLimiter(storage)
        self.identify = identify
        self.authenticated = RateLimitItemPerMinute(authenticated_per_minute)
        self.anonymous = RateLimitItemPerMinute(anonymous_per_minute)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_counted(scope["path"]):
            await self.app(scope, receive, send)
            return
        identity = await self.identify(Request(scope))
        item = self.authenticated if identity.authenticated else self.anonymous
        try:
            allowed = await self.limiter.hit(item, identity.key)
            stats = await self.limiter.get_window_stats(item, identity.key)
        except Exception:  # noqa: BLE001 - any storage fault: serve the request, say so in the log
            logger.warning("rate limiter storage unavailable; request not counted", exc_info=True)
            await self.app(scope, receive, send)
            return
        reset_at = math.ceil(stats.reset_time)
        headers = {
            "X-RateLimit-Limit": str(item.amount),
            "X-RateLimit-Remaining": str(max(stats.remaining, 0)),
            "X-RateLimit-Reset": str(reset_at),
        }
        if not allowed:
            retry_after = max(1, math.ceil(stats.reset_time - time.time()))
            response = error_response(
                429,
                RateLimited.code,
                f"Rate limit of {item.amount} requests per minute exceeded; "
                f"retry in {retry_after} s.",
                {"limit": item.amount, "retry_after_seconds": retry_after},
                headers={**headers, "Retry-After": str(retry_after)},
            )
            await response(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).update(headers)
            await send(message)

        await self.app(scope, receive, send_with_headers)

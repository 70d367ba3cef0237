"""Health of the server and the services it depends on."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis
from sqlalchemy import text

from core_server import __version__
from core_server.core.database import Database
from core_server.core.settings import Settings
from core_server.monitoring.schemas import ComponentHealth, Status, SystemHealth

PROBE_TIMEOUT_SECONDS = 3.0


async def _probe(check: Callable[[], Awaitable[object]]) -> ComponentHealth:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(check(), PROBE_TIMEOUT_SECONDS)
    except TimeoutError:
        return ComponentHealth(status="unhealthy", detail=f"no answer in {PROBE_TIMEOUT_SECONDS} s")
    except Exception as exc:  # noqa: BLE001 - any failure is the answer we report
        return ComponentHealth(status="unhealthy", detail=type(exc).__name__)
    return ComponentHealth(
        status="healthy", latency_ms=round((time.perf_counter() - started) * 1000, 2)
    )


async def system_health(
    settings: Settings, database: Database, redis: Redis | None, started_at: float
) -> SystemHealth:
    async def ping_database() -> None:
        async with database.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    components = {"database": await _probe(ping_database)}
    if redis is not None:
        components["redis"] = await _probe(redis.ping)
    statuses = {component.status for component in components.values()}
    overall: Status = "healthy"
    if components["database"].status != "healthy":
        overall = "unhealthy"
    elif statuses != {"healthy"}:
        overall = "degraded"
    return SystemHealth(
        status=overall,
        version=__version__,
        environment=settings.environment.value,
        profile=settings.profile.value,
        uptime_seconds=round(time.monotonic() - started_at, 1),
        components=components,
    )

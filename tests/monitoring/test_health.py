"""Liveness and the health of each component."""

from __future__ import annotations

import httpx
import pytest

from core_server.core.app import create_application
from tests.conftest import REDIS_URL, asgi_client, make_settings
from tests.helpers import assert_ok


async def test_liveness_needs_no_login(client: httpx.AsyncClient) -> None:
    data = assert_ok(await client.get("/health"))
    assert data == {"status": "ok", "version": "1.0.0"}


async def test_system_health_reports_the_database(client: httpx.AsyncClient) -> None:
    data = assert_ok(await client.get("/api/v1/monitoring/health"))
    assert data["status"] == "healthy"
    assert data["components"]["database"]["status"] == "healthy"
    assert data["components"]["database"]["latency_ms"] >= 0
    assert "redis" not in data["components"]  # not configured: not a component


@pytest.mark.redis
async def test_system_health_reports_redis_when_configured(tmp_path, database_url: str) -> None:
    app = create_application(settings=make_settings(tmp_path, database_url, redis_url=REDIS_URL))
    async with app.router.lifespan_context(app), asgi_client(app) as client:
        data = assert_ok(await client.get("/api/v1/monitoring/health"))
    assert data["components"]["redis"]["status"] == "healthy"
    assert data["status"] == "healthy"


async def test_redis_down_is_degraded_not_down(tmp_path, database_url: str) -> None:
    from tests.conftest import free_port

    dead = f"redis://127.0.0.1:{free_port()}/0"
    app = create_application(settings=make_settings(tmp_path, database_url, redis_url=dead))
    async with app.router.lifespan_context(app), asgi_client(app) as client:
        response = await client.get("/api/v1/monitoring/health")
    data = assert_ok(response)  # the rate limiter failed open: the request was served
    assert data["components"]["redis"]["status"] == "unhealthy"
    assert data["components"]["database"]["status"] == "healthy"
    assert data["status"] == "degraded"

"""Fixtures for jobs: a market simulator process, settings with a quick heartbeat and reaper,
and a helper that waits for a job to finish through the API."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from fastapi import FastAPI

from core_server.core.app import create_application
from core_server.core.settings import Settings
from tests.conftest import REDIS_URL, asgi_client, make_settings
from tests.helpers import ActingUser, UserFactory, assert_ok
from tests.processes import MULTIBOT, ServerPool, ServerProcess, clean_env, free_port

FIXTURES = Path(__file__).parent / "fixtures"
FREQTRADE = Path(
    os.environ.get("FREQTRADE_BIN", Path(__file__).parents[2] / ".freqtrade/bin/freqtrade")
)
SIMULATOR_PAIRS = ("BTC/USDT", "ETH/USDT", "SOL/USDT")
FINISHED = frozenset({"completed", "failed", "cancelled"})


def days_ago(start: int, end: int) -> str:
    """A freqtrade timerange from `start` days ago to `end` days ago (UTC dates)."""
    today = datetime.now(UTC).date()
    return f"{today - timedelta(days=start):%Y%m%d}-{today - timedelta(days=end):%Y%m%d}"


def job_settings(data_dir: Path, database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "job_heartbeat_seconds": 0.5,
        "job_stale_seconds": 6.0,
        "job_reaper_interval_seconds": 0.5,
        "job_cancel_wait_seconds": 20.0,
        "worker_concurrency": 2,
    }
    values.update(overrides)
    return make_settings(data_dir, database_url, **values)


@pytest.fixture(scope="module")
def simulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """`multibot simulator` in its own process: the exchange every job here downloads from."""
    work_dir = tmp_path_factory.mktemp("simulator")
    port = free_port()
    command = [
        MULTIBOT, "simulator", "--host", "127.0.0.1", "--port", str(port), "--seed", "7",
        "--pairs", ",".join(SIMULATOR_PAIRS),
    ]  # fmt: skip
    with ServerPool(work_dir) as pool:
        server = pool.spawn(command, env=clean_env(), base_url=f"http://127.0.0.1:{port}")
        server.wait_healthy(path="/simulator/status")
        yield server


@asynccontextmanager
async def started_app(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    application = create_application(settings=settings)
    try:
        async with (
            application.router.lifespan_context(application),
            asgi_client(application) as http,
        ):
            yield application, http
    finally:
        if settings.redis_url:
            await asyncio.to_thread(_forget_queue, settings.redis_url, settings.redis_prefix)


def _forget_queue(url: str, prefix: str) -> None:
    """Drop what the test's queue left in Redis (its keys all start with the test's prefix)."""
    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(f"{prefix}:*"))
        if keys:
            client.delete(*keys)
    except redis.ConnectionError:
        pass
    finally:
        client.close()


async def wait_for_job(
    client: httpx.AsyncClient,
    user: ActingUser,
    job_id: int,
    states: frozenset[str] = FINISHED,
    seconds: float = 240.0,
    where: Any = None,
) -> dict[str, Any]:
    """Poll GET /backtest/jobs/{id} until its state is one of `states` (and `where(job)`)."""
    deadline = time.monotonic() + seconds
    job: dict[str, Any] = {}
    while time.monotonic() < deadline:
        job = assert_ok(await client.get(f"/api/v1/backtest/jobs/{job_id}", headers=user.headers))
        if job["state"] in states and (where is None or where(job)):
            return job
        await asyncio.sleep(0.3)
    raise AssertionError(f"job {job_id} not {sorted(states)} after {seconds:.0f} s: {job}")


def install_strategy(data_dir: Path, filename: str) -> None:
    """Put a fixture strategy into the library folder the catalogue reads."""
    folder = data_dir / "strategies"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / filename).write_text((FIXTURES / filename).read_text())


__all__ = [
    "REDIS_URL",
    "FIXTURES",
    "UserFactory",
    "job_settings",
    "started_app",
    "wait_for_job",
]

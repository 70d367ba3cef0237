"""Jobs through Redis to real `multibot worker` processes: a backtest on another process, a
worker killed with SIGKILL mid-job (the job is retried, its freqtrade does not linger), and a
Redis restarted (without persistence) while jobs wait (they are sent again and run)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from core_server.core.settings import Settings
from tests.backtests.conftest import (
    FREQTRADE,
    REDIS_URL,
    days_ago,
    job_settings,
    started_app,
    wait_for_job,
)
from tests.helpers import ActingUser, UserFactory, assert_ok
from tests.processes import MULTIBOT, PrivateRedis, ServerPool, ServerProcess, server_env

REQUIRED = os.environ.get("MULTIBOT_REQUIRE_SERVICES") == "1"
pytestmark = [
    pytest.mark.freqtrade,
    pytest.mark.redis,
    pytest.mark.skipif(
        not FREQTRADE.exists() and not REQUIRED, reason=f"no freqtrade at {FREQTRADE}"
    ),
]
BACKTEST = {"strategy": "SampleStrategy", "pairs": ["BTC/USDT", "ETH/USDT"], "timeframe": "5m"}


@pytest.fixture
def pool(tmp_path: Path) -> Iterator[ServerPool]:
    with ServerPool(tmp_path) as processes:
        yield processes


def start_worker(pool: ServerPool, settings: Settings, *, concurrency: int = 1) -> ServerProcess:
    """`multibot worker` sharing the test app's database, Redis, prefix and data directory."""
    env = server_env(
        settings.data_dir,
        DATABASE_URL=settings.resolved_database_url,
        REDIS_URL=str(settings.redis_url),
        REDIS_PREFIX=settings.redis_prefix,
        SIMULATOR_URL=str(settings.simulator_url),
        JOB_HEARTBEAT_SECONDS=str(settings.job_heartbeat_seconds),
        JOB_STALE_SECONDS=str(settings.job_stale_seconds),
        JOB_REAPER_INTERVAL_SECONDS=str(settings.job_reaper_interval_seconds),
        AUTO_MIGRATE="false",
    )
    worker = pool.spawn(
        [MULTIBOT, "worker", "--concurrency", str(concurrency)], env=env, base_url="worker:"
    )
    deadline = time.monotonic() + 30
    while "running" not in worker.log():
        assert worker.is_running(), worker.log()
        assert time.monotonic() < deadline, worker.log()
        time.sleep(0.1)
    return worker


async def submit(client: httpx.AsyncClient, user: ActingUser, body: dict[str, Any]) -> int:
    job = assert_ok(await client.post("/api/v1/backtest/run", json=body, headers=user.headers), 202)
    assert job["state"] == "queued"
    return int(job["id"])


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_a_backtest_runs_on_a_worker_process(
    data_dir: Path, database_url: str, simulator: ServerProcess, pool: ServerPool
) -> None:
    settings = job_settings(
        data_dir, database_url, redis_url=REDIS_URL, simulator_url=simulator.base_url
    )
    async with started_app(settings) as (app, client):
        assert app.state.jobs.pool is None  # with Redis the server runs no jobs itself
        user = await UserFactory(app, client).create()
        job_id = await submit(client, user, {**BACKTEST, "timerange": days_ago(4, 2)})
        worker = start_worker(pool, settings)
        job = await wait_for_job(client, user, job_id)
        assert job["state"] == "completed", (job, worker.log())
        assert job["worker_id"].startswith(f"{socket.gethostname()}:{worker.pid}:")
        assert job["results"]["summary"]["total_trades"] == len(job["results"]["trades"])
        assert f"job {job_id} completed" in worker.log()


async def test_a_worker_killed_mid_job_leaves_no_job_stuck(
    data_dir: Path, sqlite_url: str, simulator: ServerProcess, pool: ServerPool
) -> None:
    settings = job_settings(
        data_dir, sqlite_url, redis_url=REDIS_URL, simulator_url=simulator.base_url
    )
    async with started_app(settings) as (app, client):
        user = await UserFactory(app, client).create()
        job_id = await submit(client, user, {**BACKTEST, "timerange": days_ago(9, 1)})
        first = start_worker(pool, settings)
        await wait_for_job(
            client, user, job_id, frozenset({"running"}), where=lambda j: j["attempts"] == 1
        )
        freqtrade_pid = await running_pid(app, job_id)
        first.process.send_signal(signal.SIGKILL)
        first.wait_exit(10)
        # Its freqtrade went with it, and the job went back to the queue with the reason.
        await until(lambda: not alive(freqtrade_pid), "the orphaned freqtrade to end")
        requeued = await wait_for_job(client, user, job_id, frozenset({"queued"}), seconds=30)
        assert requeued["stage"].startswith(f"retrying: worker {socket.gethostname()}:{first.pid}")

        second = start_worker(pool, settings)
        done = await wait_for_job(client, user, job_id)
        assert done["state"] == "completed", (done, second.log())
        assert done["attempts"] == 2
        assert done["worker_id"].startswith(f"{socket.gethostname()}:{second.pid}:")


async def test_jobs_survive_a_redis_restart_while_they_wait(
    data_dir: Path,
    sqlite_url: str,
    simulator: ServerProcess,
    pool: ServerPool,
    private_redis: PrivateRedis,
) -> None:
    settings = job_settings(
        data_dir, sqlite_url, redis_url=private_redis.url, simulator_url=simulator.base_url
    )
    async with started_app(settings) as (app, client):
        user = await UserFactory(app, client).create()
        waiting = [
            await submit(client, user, {**BACKTEST, "timerange": days_ago(4, 2)}),
            await submit(client, user, {**BACKTEST, "timerange": days_ago(5, 3)}),
        ]
        queue = app.state.jobs.queue
        # Each job's message is sent once its row has committed: it may lag the answer a little.
        await until_async(
            lambda: asyncio.to_thread(queue.pending_job_ids), set(waiting), "both jobs queued"
        )

        await asyncio.to_thread(private_redis.restart)  # no persistence: messages are gone
        assert await asyncio.to_thread(queue.pending_job_ids) == set()
        # The reaper notices the jobs have no message any more and sends them again.
        await until_async(
            lambda: asyncio.to_thread(queue.pending_job_ids), set(waiting), "re-sent jobs"
        )
        start_worker(pool, settings, concurrency=2)
        for job_id in waiting:
            job = await wait_for_job(client, user, job_id)
            assert job["state"] == "completed", job
            assert job["attempts"] == 1


async def running_pid(app: FastAPI, job_id: int) -> int:
    from core_server.backtests.models import Job

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        async with app.state.database.transaction() as session:
            job = await session.get(Job, job_id)
            if job is not None and job.pid is not None:
                return job.pid
        await asyncio.sleep(0.2)
    raise AssertionError("the job's freqtrade never started")


async def until(check: Any, what: str, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"waited {seconds:.0f} s for {what}"
        await asyncio.sleep(0.2)


async def until_async(probe: Any, expected: Any, what: str, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while (value := await probe()) != expected:
        assert time.monotonic() < deadline, f"waited {seconds:.0f} s for {what}: {value}"
        await asyncio.sleep(0.2)

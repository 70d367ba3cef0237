"""Bots that misbehave: one answers garbage, one never answers, one closes its message websocket
every second. Each is marked unhealthy, and the healthy bot's state stays fresh meanwhile.

The bots are the benchmark's stand-ins (benchmarks/standin_bots.py): they speak freqtrade's REST
and websocket protocol with answers recorded from a real freqtrade, and can be told to misbehave
in ways a real freqtrade cannot be made to on purpose."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from core_server.core.app import create_application
from tests.bots.test_lifecycle import eventually
from tests.conftest import asgi_client, free_port, make_settings
from tests.helpers import UserFactory, assert_ok

STANDINS = Path(__file__).resolve().parents[2] / "benchmarks" / "standin_bots.py"
INTERVAL = 1.0


@contextmanager
def start_standins(*, bots: int, trade_period: float) -> Iterator[str]:
    """Stand-in bots in their own process; yields the control API's base URL."""
    control = free_port()
    process = subprocess.Popen(  # noqa: S603 - our own script
        [sys.executable, str(STANDINS), "--bots", str(bots), "--control-port", str(control)]
        + ["--trade-period", str(trade_period), "--history", "3", "--loop", "asyncio"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{control}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/control/stats", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the stand-in bots did not start (exit {process.poll()})")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture
def standins() -> Iterator[str]:
    with start_standins(bots=4, trade_period=0) as control:
        yield control


@pytest.fixture
async def collecting_app(data_dir: Path, sqlite_url: str) -> AsyncIterator[FastAPI]:
    settings = make_settings(
        data_dir,
        sqlite_url,
        collector_interval_seconds=INTERVAL,
        collector_sync_timeout_seconds=2.0,
    )
    app = create_application(settings=settings)
    async with app.router.lifespan_context(app):
        yield app


async def _live(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    rows = assert_ok(await client.get("/api/v1/fleet/live", headers=headers))
    return {row["name"]: row for row in rows}


async def test_misbehaving_bots_are_unhealthy_and_do_not_slow_the_rest(
    standins: str, collecting_app: FastAPI
) -> None:
    async with (
        asgi_client(collecting_app) as client,
        httpx.AsyncClient(base_url=standins, timeout=5) as control,
    ):
        bots = (await control.get("/control/bots")).json()
        trader = await UserFactory(collecting_app, client).create()
        names = ["steady", "garbage", "hang", "flap"]
        for name, bot in zip(names, bots, strict=True):
            body = {
                "name": name,
                "api_url": bot["api_url"],
                "username": bot["username"],
                "password": bot["password"],
            }
            assert_ok(
                await client.post("/api/v1/bots/external", json=body, headers=trader.headers), 201
            )

        async def all_healthy() -> bool:
            live = await _live(client, trader.headers)
            return all(row["health"] == "healthy" for row in live.values())

        await eventually(all_healthy, seconds=30, what="every bot collected")
        live = await _live(client, trader.headers)
        assert float(live["steady"]["equity"]) > 0
        for index, mode in enumerate(names[1:], start=1):
            await control.get("/control/misbehave", params={"bot": index, "mode": mode})

        worst_age = 0.0

        async def misbehaving_marked() -> dict[str, Any] | None:
            nonlocal worst_age
            live = await _live(client, trader.headers)
            worst_age = max(worst_age, live["steady"]["age_seconds"])
            assert live["steady"]["health"] == "healthy"
            if all(live[name]["health"] == "unhealthy" for name in names[1:]):
                return live
            return None

        live = await eventually(misbehaving_marked, seconds=60, what="the bad bots marked")
        assert "non-JSON" in live["garbage"]["last_error"]
        assert live["hang"]["last_error"] == "TimeoutError"
        assert "websocket" in live["flap"]["last_error"]
        # The flapping bot still answers REST: its figures stay fresh, only its events are slow.
        assert live["flap"]["age_seconds"] < 3 * INTERVAL + 1
        # A bad bot keeps its last good figures, with their age.
        assert float(live["hang"]["equity"]) > 0
        # Sampled every half second the whole time: the healthy bot was never held up.
        assert worst_age < 3 * INTERVAL

        # Once a bot behaves again it recovers.
        await control.get("/control/misbehave", params={"bot": 1, "mode": "normal"})

        async def recovered() -> bool:
            return (await _live(client, trader.headers))["garbage"]["health"] == "healthy"

        await eventually(recovered, seconds=60, what="the garbage bot recovering")

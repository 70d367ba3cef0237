"""Real freqtrade bots against the market simulator: start, trade, stop, crash and recover."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from core_server.bots.models import Bot
from core_server.core.app import create_application
from core_server.core.settings import Settings
from core_server.simulator.config import SimulatorConfig
from core_server.simulator.server import SimulatorServer
from tests.conftest import asgi_client, free_port, make_settings
from tests.helpers import ActingUser, UserFactory, assert_error, assert_ok

pytestmark = pytest.mark.freqtrade

BOTS = "/api/v1/bots"


@pytest.fixture
async def simulator() -> AsyncIterator[SimulatorServer]:
    async with SimulatorServer(SimulatorConfig(port=0, seed=7)) as server:
        yield server


@pytest.fixture
async def fleet_app(
    data_dir: Path, sqlite_url: str, simulator: SimulatorServer
) -> AsyncIterator[FastAPI]:
    settings = make_settings(data_dir, sqlite_url, simulator_url=simulator.base_url)
    app = create_application(settings=settings)
    async with app.router.lifespan_context(app):
        yield app
        await stop_all_bots(app, settings)


async def stop_all_bots(app: FastAPI, settings: Settings) -> None:
    """No test may leave a freqtrade process behind."""
    from sqlalchemy import select

    async with app.state.database.transaction() as session:
        bots = (await session.execute(select(Bot))).scalars().all()
    for bot in bots:
        await app.state.bot_manager.end_process(bot)


async def eventually(
    check: Callable[[], Awaitable[Any]], *, seconds: float = 90, what: str = "condition"
) -> Any:
    deadline = asyncio.get_running_loop().time() + seconds
    last: Any = None
    while asyncio.get_running_loop().time() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.5)
    raise AssertionError(f"{what} did not happen within {seconds} s (last: {last!r})")


async def bot_state(client: httpx.AsyncClient, user: ActingUser, bot_id: int) -> dict[str, Any]:
    data: dict[str, Any] = assert_ok(await client.get(f"{BOTS}/{bot_id}", headers=user.headers))
    return data


async def wait_status(
    client: httpx.AsyncClient, user: ActingUser, bot_id: int, status: str, seconds: float = 90
) -> dict[str, Any]:
    async def reached() -> dict[str, Any] | None:
        bot = await bot_state(client, user, bot_id)
        if bot["status"] == "error" and status != "error" and not bot["next_restart_at"]:
            raise AssertionError(f"bot {bot_id} failed: {bot['last_error']}")
        return bot if bot["status"] == status else None

    result: dict[str, Any] = await eventually(reached, seconds=seconds, what=f"status {status}")
    return result


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"


async def test_two_bots_trade_and_stop(fleet_app: FastAPI) -> None:
    async with asgi_client(fleet_app) as client:
        trader = await UserFactory(fleet_app, client).create()
        ids = []
        for name in ("alpha", "beta"):
            body = {"name": name, "pairs": ["BTC/USDT", "ETH/USDT"], "stake_amount": 50}
            ids.append(
                assert_ok(await client.post(BOTS, json=body, headers=trader.headers), 201)["id"]
            )
        for bot_id in ids:
            started = await client.post(f"{BOTS}/{bot_id}/start", headers=trader.headers)
            assert assert_ok(started, 202)["status"] == "starting"
        running = [await wait_status(client, trader, bot_id, "running") for bot_id in ids]
        assert all(bot["pid"] for bot in running)
        alpha = ids[0]

        entered = assert_ok(
            await client.post(
                f"{BOTS}/{alpha}/forceenter", json={"pair": "BTC/USDT"}, headers=trader.headers
            )
        )
        trade_id = entered["trade_id"]

        async def filled() -> Any:
            trades = assert_ok(await client.get(f"{BOTS}/{alpha}/status", headers=trader.headers))
            return trades if trades and not trades[0].get("has_open_orders") else None

        open_trades = await eventually(filled, seconds=60, what="the entry filling")
        assert [(t["trade_id"], t["pair"]) for t in open_trades] == [(trade_id, "BTC/USDT")]

        assert_ok(
            await client.post(
                f"{BOTS}/{alpha}/forceexit", json={"tradeid": trade_id}, headers=trader.headers
            )
        )

        async def closed() -> Any:
            page = assert_ok(await client.get(f"{BOTS}/{alpha}/trades", headers=trader.headers))
            return [t for t in page["trades"] if t["trade_id"] == trade_id and not t["is_open"]]

        [trade] = await eventually(closed, seconds=60, what="the trade closing")
        assert trade["close_rate"] > 0 and trade["exit_reason"] == "force_exit"
        profit = assert_ok(await client.get(f"{BOTS}/{alpha}/profit", headers=trader.headers))
        assert profit["closed_trade_count"] == 1
        assert profit["profit_closed_coin"] == pytest.approx(trade["profit_abs"], abs=1e-6)
        for suffix in ("/balance", "/performance", "/daily"):
            assert_ok(await client.get(f"{BOTS}/{alpha}{suffix}", headers=trader.headers))
        # freqtrade logs the message websocket's address; the collector's token is masked.
        logs = assert_ok(
            await client.get(f"{BOTS}/{alpha}/logs?limit=1000", headers=trader.headers)
        )
        async with fleet_app.state.database.transaction() as session:
            row = await session.get(Bot, alpha)
        ws_token = fleet_app.state.bot_manager.decrypt(row, "ws_token")
        assert logs["logs"] and ws_token not in json.dumps(logs)

        for bot_id in ids:
            assert_ok(await client.post(f"{BOTS}/{bot_id}/stop", headers=trader.headers), 202)
        for bot_id, before in zip(ids, running, strict=True):
            stopped = await wait_status(client, trader, bot_id, "stopped", seconds=40)
            assert stopped["pid"] is None and not process_alive(before["pid"])


async def test_a_killed_bot_comes_back(fleet_app: FastAPI) -> None:
    async with asgi_client(fleet_app) as client:
        trader = await UserFactory(fleet_app, client).create()
        body = {"name": "phoenix", "pairs": ["BTC/USDT"], "stake_amount": 50}
        bot_id = assert_ok(await client.post(BOTS, json=body, headers=trader.headers), 201)["id"]
        await client.post(f"{BOTS}/{bot_id}/start", headers=trader.headers)
        first = await wait_status(client, trader, bot_id, "running")

        os.kill(first["pid"], signal.SIGKILL)

        async def back_with_new_pid() -> Any:
            bot = await bot_state(client, trader, bot_id)
            return bot if bot["status"] == "running" and bot["pid"] != first["pid"] else None

        again = await eventually(back_with_new_pid, seconds=90, what="the automatic restart")
        assert again["restart_count"] == 1
        assert "exited unexpectedly" in (again["last_error"] or "") or again["last_error"] is None

        # Deleting a running bot leaves no process behind.
        assert_ok(await client.delete(f"{BOTS}/{bot_id}", headers=trader.headers))
        assert not process_alive(again["pid"])
        assert_error(await client.get(f"{BOTS}/{bot_id}", headers=trader.headers), 404)


BROKEN_STRATEGY = """
from freqtrade.strategy import IStrategy
import a_module_that_does_not_exist  # noqa


class BrokenStrategy(IStrategy):
    timeframe = "5m"
"""


async def test_a_bot_that_cannot_start_shows_why(fleet_app: FastAPI, data_dir: Path) -> None:
    # It parses, so it is in the library, but freqtrade cannot load it: only starting finds out.
    (data_dir / "strategies").mkdir(parents=True, exist_ok=True)
    (data_dir / "strategies" / "broken.py").write_text(BROKEN_STRATEGY)
    async with asgi_client(fleet_app) as client:
        trader = await UserFactory(fleet_app, client).create()
        body = {"name": "doomed", "pairs": ["BTC/USDT"], "strategy_name": "BrokenStrategy"}
        bot_id = assert_ok(await client.post(BOTS, json=body, headers=trader.headers), 201)["id"]
        await client.post(f"{BOTS}/{bot_id}/start", headers=trader.headers)

        async def failed() -> Any:
            bot = await bot_state(client, trader, bot_id)
            return bot if bot["status"] == "error" else None

        bot = await eventually(failed, seconds=90, what="the start failing")
        assert "exited during start-up" in bot["last_error"]
        assert "a_module_that_does_not_exist" in bot["last_error"]  # freqtrade's own words
        assert bot["pid"] is None
        assert_ok(await client.post(f"{BOTS}/{bot_id}/stop", headers=trader.headers), 202)
        stopped = await wait_status(client, trader, bot_id, "stopped", seconds=30)
        assert stopped["desired_state"] == "stopped"


@pytest.fixture
async def impatient_app(
    data_dir: Path, sqlite_url: str, simulator: SimulatorServer
) -> AsyncIterator[FastAPI]:
    """Like fleet_app, with a short stop timeout so a hung bot meets SIGKILL quickly."""
    settings = make_settings(
        data_dir, sqlite_url, simulator_url=simulator.base_url, bot_stop_timeout_seconds=3.0
    )
    app = create_application(settings=settings)
    async with app.router.lifespan_context(app):
        yield app
        await stop_all_bots(app, settings)


async def test_a_hung_bot_is_killed_on_stop(impatient_app: FastAPI) -> None:
    async with asgi_client(impatient_app) as client:
        trader = await UserFactory(impatient_app, client).create()
        body = {"name": "frozen", "pairs": ["BTC/USDT"], "stake_amount": 50}
        bot_id = assert_ok(await client.post(BOTS, json=body, headers=trader.headers), 201)["id"]
        await client.post(f"{BOTS}/{bot_id}/start", headers=trader.headers)
        running = await wait_status(client, trader, bot_id, "running")
        # A stopped process ignores SIGTERM until it is continued: it hangs on stop.
        os.killpg(running["pid"], signal.SIGSTOP)
        assert_ok(await client.post(f"{BOTS}/{bot_id}/stop", headers=trader.headers), 202)
        stopped = await wait_status(client, trader, bot_id, "stopped", seconds=30)
        assert stopped["pid"] is None and not process_alive(running["pid"])


async def test_a_taken_port_moves_the_bot(fleet_app: FastAPI) -> None:
    async with asgi_client(fleet_app) as client:
        trader = await UserFactory(fleet_app, client).create()
        body = {"name": "squatted", "pairs": ["BTC/USDT"], "stake_amount": 50}
        bot = assert_ok(await client.post(BOTS, json=body, headers=trader.headers), 201)
        squatter = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", bot["api_port"])
        async with squatter:
            await client.post(f"{BOTS}/{bot['id']}/start", headers=trader.headers)
            running = await wait_status(client, trader, bot["id"], "running")
        assert running["api_port"] != bot["api_port"]
        assert_ok(await client.get(f"{BOTS}/{bot['id']}/status", headers=trader.headers))


async def test_bots_ride_out_a_simulator_outage(data_dir: Path, sqlite_url: str) -> None:
    """The exchange going away is not the bot going away: it stays running, its API answers,
    and it trades again once the exchange is back."""
    config = SimulatorConfig(port=free_port(), seed=11)
    simulator = SimulatorServer(config)
    await simulator.start()
    settings = make_settings(data_dir, sqlite_url, simulator_url=simulator.base_url)
    app = create_application(settings=settings)
    try:
        async with app.router.lifespan_context(app), asgi_client(app) as client:
            trader = await UserFactory(app, client).create()
            body = {"name": "weather", "pairs": ["BTC/USDT"], "stake_amount": 50}
            bot_id = assert_ok(await client.post(BOTS, json=body, headers=trader.headers), 201)[
                "id"
            ]
            await client.post(f"{BOTS}/{bot_id}/start", headers=trader.headers)
            running = await wait_status(client, trader, bot_id, "running")

            await simulator.stop()
            await asyncio.sleep(8)  # a few of the bot's exchange calls fail meanwhile
            during = await bot_state(client, trader, bot_id)
            assert (during["status"], during["pid"]) == ("running", running["pid"])
            assert_ok(await client.get(f"{BOTS}/{bot_id}/status", headers=trader.headers))

            simulator = SimulatorServer(config)
            await simulator.start()

            async def trades_again() -> Any:
                response = await client.post(
                    f"{BOTS}/{bot_id}/forceenter",
                    json={"pair": "BTC/USDT"},
                    headers=trader.headers,
                )
                return response.json()["data"] if response.status_code == 200 else None

            entered = await eventually(trades_again, seconds=60, what="trading after the outage")
            assert entered["pair"] == "BTC/USDT"
            await stop_all_bots(app, settings)
    finally:
        await simulator.stop()

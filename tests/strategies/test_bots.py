"""Bots pin a version of a library strategy and run exactly that code; the helper backtests use
resolves the same pins."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from core_server.bots.models import Bot
from core_server.core.app import create_application
from core_server.simulator.config import SimulatorConfig
from core_server.simulator.server import SimulatorServer
from core_server.strategies.errors import StrategyNotFound, StrategyVersionNotFound
from core_server.strategies.service import pinned_strategy
from tests.bots.test_lifecycle import eventually, stop_all_bots, wait_status
from tests.conftest import asgi_client, make_settings
from tests.helpers import UserFactory, assert_error, assert_ok
from tests.strategies.support import STRATEGIES, save, strategy_code

pytestmark = pytest.mark.freqtrade

BOTS = "/api/v1/bots"


def bot_body(name: str = "pinned", **extra: Any) -> dict[str, Any]:
    return {"name": name, "pairs": ["BTC/USDT"], "stake_amount": 50, **extra}


async def written_strategy(app: FastAPI, bot_id: int) -> dict[str, str]:
    """The strategy files the bot's next start would run with, written by the real manager."""
    async with app.state.database.transaction() as session:
        bot = await session.get(Bot, bot_id)
    assert bot is not None
    paths = await app.state.bot_manager.write_files(bot)
    return {path.name: path.read_text() for path in sorted(paths.strategies.iterdir())}


async def test_bots_run_the_version_they_pinned(
    users: UserFactory, client: httpx.AsyncClient, app: FastAPI
) -> None:
    trader = await users.create()
    saved = await save(client, trader, parameters={"buy": {"buy_rsi": 25}})
    strategy_url = f"{STRATEGIES}/{saved['id']}"
    bot = assert_ok(
        await client.post(BOTS, json=bot_body(strategy_name="MyStrategy"), headers=trader.headers),
        201,
    )
    assert (bot["strategy_version"], bot["strategy_version_id"]) == (1, saved["version_id"])

    # The library moves on; the bot keeps running version 1 until it is re-pinned.
    assert_ok(
        await client.put(strategy_url, json={"code": strategy_code(rsi=12)}, headers=trader.headers)
    )
    files = await written_strategy(app, bot["id"])
    assert files["MyStrategy.py"] == strategy_code()
    params = json.loads(files["MyStrategy.json"])
    assert params["strategy_name"] == "MyStrategy"
    assert params["params"] == {"buy": {"buy_rsi": 25}}

    bot_url = f"{BOTS}/{bot['id']}"
    repinned = assert_ok(
        await client.put(bot_url, json={"strategy_name": "MyStrategy"}, headers=trader.headers)
    )
    assert repinned["strategy_version"] == 2
    assert (await written_strategy(app, bot["id"]))["MyStrategy.py"] == strategy_code(rsi=12)
    back = assert_ok(
        await client.put(bot_url, json={"strategy_version": 1}, headers=trader.headers)
    )
    assert back["strategy_version"] == 1
    error = assert_error(
        await client.put(bot_url, json={"strategy_version": 9}, headers=trader.headers), 422
    )
    assert error["details"]["fields"][0]["field"] == "strategy_version"

    # A file strategy has no version, and the pinned file does not linger beside it.
    sample = assert_ok(
        await client.put(bot_url, json={"strategy_name": "SampleStrategy"}, headers=trader.headers)
    )
    assert (sample["strategy_version"], sample["strategy_version_id"]) == (None, None)
    assert list(await written_strategy(app, bot["id"])) == ["sample_strategy.py"]
    versioned_sample = await client.post(
        BOTS, json=bot_body("s", strategy_version=1), headers=trader.headers
    )
    assert_error(versioned_sample, 422, "UNKNOWN_STRATEGY")


async def test_a_pinned_strategy_cannot_be_deleted_and_others_libraries_are_private(
    users: UserFactory, client: httpx.AsyncClient
) -> None:
    trader = await users.create()
    stranger = await users.create()
    saved = await save(client, trader)
    bot = assert_ok(
        await client.post(BOTS, json=bot_body(strategy_name="MyStrategy"), headers=trader.headers),
        201,
    )
    refused = assert_error(
        await client.delete(f"{STRATEGIES}/{saved['id']}", headers=trader.headers),
        409,
        "STRATEGY_IN_USE",
    )
    assert refused["details"]["bots"] == [{"id": bot["id"], "name": "pinned"}]
    assert_ok(await client.get(f"{STRATEGIES}/{saved['id']}", headers=trader.headers))

    foreign = await client.post(
        BOTS, json=bot_body(strategy_name="MyStrategy"), headers=stranger.headers
    )
    assert_error(foreign, 422, "UNKNOWN_STRATEGY")

    assert_ok(await client.delete(f"{BOTS}/{bot['id']}", headers=trader.headers))
    assert_ok(await client.delete(f"{STRATEGIES}/{saved['id']}", headers=trader.headers))


async def test_pinned_strategy_resolves_versions_for_backtests(
    users: UserFactory, client: httpx.AsyncClient, app: FastAPI, tmp_path: Path
) -> None:
    trader = await users.create()
    saved = await save(client, trader)
    assert_ok(
        await client.put(
            f"{STRATEGIES}/{saved['id']}",
            json={"code": strategy_code(rsi=15), "parameters": {"buy": {"buy_rsi": 16}}},
            headers=trader.headers,
        )
    )
    async with app.state.database.transaction() as session:
        current = await pinned_strategy(session, trader.id, "MyStrategy", None)
        first = await pinned_strategy(session, trader.id, "MyStrategy", 1)
        with pytest.raises(StrategyNotFound) as unknown:
            await pinned_strategy(session, trader.id, "NoSuchStrategy", None)
        with pytest.raises(StrategyVersionNotFound):
            await pinned_strategy(session, trader.id, "MyStrategy", 3)
        with pytest.raises(StrategyNotFound):
            await pinned_strategy(session, trader.id + 1000, "MyStrategy", None)
    assert (current.version, current.class_name, current.name) == (2, "MyStrategy", "MyStrategy")
    assert current.code == strategy_code(rsi=15) and current.parameters == {"buy": {"buy_rsi": 16}}
    assert (first.version, first.code, first.version_id) == (
        1,
        strategy_code(),
        saved["version_id"],
    )
    assert unknown.value.status_code == 404
    assert unknown.value.details["fields"][0]["field"] == "strategy"
    assert current.uses_freqai is False
    written = current.write_to(tmp_path / "strategies")
    assert written.name == "MyStrategy.py" and written.read_text() == current.code


@pytest.fixture
async def fleet_app(data_dir: Path, sqlite_url: str) -> AsyncIterator[FastAPI]:
    async with SimulatorServer(SimulatorConfig(port=0, seed=5)) as simulator:
        settings = make_settings(data_dir, sqlite_url, simulator_url=simulator.base_url)
        app = create_application(settings=settings)
        async with app.router.lifespan_context(app):
            yield app
            await stop_all_bots(app, settings)


async def test_a_bot_trades_with_a_copied_template(fleet_app: FastAPI) -> None:
    """The RSI/EMA template, copied into the library, runs in a real freqtrade bot on the
    simulator: the bot loads the pinned file and answers with that strategy."""
    async with asgi_client(fleet_app) as client:
        trader = await UserFactory(fleet_app, client).create()
        copied = assert_ok(
            await client.post(
                f"{STRATEGIES}/templates/copy",
                json={"template": "RsiEmaStrategy"},
                headers=trader.headers,
            ),
            201,
        )
        body = bot_body("rsi-bot", strategy_name="RsiEmaStrategy", pairs=["BTC/USDT", "ETH/USDT"])
        bot = assert_ok(await client.post(BOTS, json=body, headers=trader.headers), 201)
        assert bot["strategy_version_id"] == copied["version_id"]
        await client.post(f"{BOTS}/{bot['id']}/start", headers=trader.headers)
        await wait_status(client, trader, bot["id"], "running")

        async def loaded() -> Any:
            logs = assert_ok(await client.get(f"{BOTS}/{bot['id']}/logs", headers=trader.headers))
            text = json.dumps(logs)
            return "RsiEmaStrategy" in text and "RsiEmaStrategy.py" in text

        assert await eventually(loaded, seconds=30, what="the pinned strategy loading")
        assert_ok(await client.post(f"{BOTS}/{bot['id']}/stop", headers=trader.headers), 202)
        await wait_status(client, trader, bot["id"], "stopped", seconds=40)

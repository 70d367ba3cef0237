"""A restart of Redis, and of the server, loses no trade: collection resumes and fills the gap
from the bots' own history, and every trade's entry and exit reach the activity feed once.

Redis here is a private `redis-server` the test starts and kills, so no other test's Redis goes
away. The bots are stand-ins trading every few seconds (see test_faults.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from fastapi import FastAPI
from sqlalchemy import select

from core_server.activity.models import Event
from core_server.collector.models import MirroredTrade
from core_server.core.app import create_application
from core_server.core.database import utcnow
from core_server.core.settings import Settings
from core_server.freqtrade.client import FreqtradeClient
from tests.bots.test_lifecycle import eventually
from tests.collector.test_faults import start_standins
from tests.conftest import asgi_client, make_settings
from tests.helpers import UserFactory, assert_ok
from tests.processes import PrivateRedis

pytestmark = pytest.mark.redis


@pytest.fixture
def standins() -> Iterator[str]:
    # Each bot enters a trade every 4 s and exits it 2 s later.
    with start_standins(bots=2, trade_period=4.0) as control:
        yield control


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[FastAPI]:
    app = create_application(settings=settings)
    async with app.router.lifespan_context(app):
        yield app


async def _bot_trades(bot: dict[str, Any]) -> dict[int, bool]:
    """Every trade the bot itself lists: id -> open."""
    async with FreqtradeClient(bot["api_url"], bot["username"], bot["password"]) as client:
        closed = (await client.trades(limit=500)).trades
        open_now = await client.status()
    return {t.trade_id: False for t in closed} | {t.trade_id: True for t in open_now}


async def test_no_trade_is_lost_across_redis_and_server_restarts(
    data_dir: Path, sqlite_url: str, private_redis: PrivateRedis, standins: str
) -> None:
    settings = make_settings(
        data_dir, sqlite_url, redis_url=private_redis.url, collector_interval_seconds=1.0
    )
    async with httpx.AsyncClient(base_url=standins, timeout=5) as control:
        bots = (await control.get("/control/bots")).json()
    names = {}
    attached_at = utcnow()
    async with serving(settings) as app, asgi_client(app) as client:
        trader = await UserFactory(app, client).create()
        for bot in bots:
            body = {k: bot[k] for k in ("api_url", "username", "password")}
            created = assert_ok(
                await client.post(
                    "/api/v1/bots/external",
                    json={**body, "name": f"standin-{bot['index']}"},
                    headers=trader.headers,
                ),
                201,
            )
            names[created["id"]] = bot
        await asyncio.sleep(3)

        # Redis dies for 6 s (about three trades a bot), then comes back empty.
        private_redis.kill()
        await asyncio.sleep(6)
        private_redis.start()
        await asyncio.sleep(3)

    # The server is down for 6 s, then starts again on the same database.
    await asyncio.sleep(6)
    async with serving(settings) as app, asgi_client(app) as client:

        async def mirrored_everything() -> bool:
            async with app.state.database.transaction() as session:
                rows = (await session.execute(select(MirroredTrade))).scalars().all()
            mirrored = {(r.bot_id, r.ft_trade_id): r.is_open for r in rows}
            for bot_id, bot in names.items():
                for trade_id, is_open in (await _bot_trades(bot)).items():
                    # A trade the bot closed is closed here too (an open one may close any time).
                    if (bot_id, trade_id) not in mirrored or (
                        not is_open and mirrored[(bot_id, trade_id)]
                    ):
                        return False
            return True

        await eventually(mirrored_everything, seconds=60, what="every trade mirrored")

        # The bot state is back in the restarted Redis.
        keys = redis.Redis.from_url(private_redis.url).keys(f"{settings.redis_prefix}:bot-state:*")
        assert len(keys) == len(names)

        # Every trade that closed while we watched has one entry and one exit in the feed.
        async with app.state.database.transaction() as session:
            rows = (await session.execute(select(MirroredTrade))).scalars().all()
            events = (await session.execute(select(Event))).scalars().all()
        feed: dict[tuple[str, int, int], int] = {}
        for event in events:
            if event.type in ("trade.entry", "trade.exit") and event.bot_id is not None:
                key = (event.type, event.bot_id, int(event.payload["trade_id"]))
                feed[key] = feed.get(key, 0) + 1
        watched = [r for r in rows if not r.is_open and r.open_date > attached_at]
        assert len(watched) >= 2 * len(names)  # several trades a bot came and went meanwhile
        for row in watched:
            assert feed.get(("trade.entry", row.bot_id, row.ft_trade_id)) == 1, row.ft_trade_id
            assert feed.get(("trade.exit", row.bot_id, row.ft_trade_id)) == 1, row.ft_trade_id
        assert all(count == 1 for count in feed.values())
        page = assert_ok(
            await client.get(
                "/api/v1/activity", params={"type": "trade.exit"}, headers=trader.headers
            )
        )
        assert page["total"] >= len(watched)

"""The collector with real bots: forced trades reach the mirror and the activity feed within
seconds, and the mirror agrees with freqtrade's own numbers."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from core_server.collector.models import MirroredTrade
from tests.bots.test_lifecycle import (  # noqa: F401 - fixtures
    BOTS,
    eventually,
    fleet_app,
    simulator,
    wait_status,
)
from tests.conftest import asgi_client
from tests.helpers import UserFactory, assert_ok

pytestmark = pytest.mark.freqtrade


async def test_forced_trades_reach_the_feed_and_the_mirror(fleet_app: FastAPI) -> None:  # noqa: F811
    async with asgi_client(fleet_app) as client:
        trader = await UserFactory(fleet_app, client).create()
        body = {"name": "mirror", "pairs": ["BTC/USDT", "ETH/USDT"], "stake_amount": 50}
        bot_id = assert_ok(await client.post(BOTS, json=body, headers=trader.headers), 201)["id"]
        await client.post(f"{BOTS}/{bot_id}/start", headers=trader.headers)
        await wait_status(client, trader, bot_id, "running")

        async def feed(kind: str) -> Any:
            page = assert_ok(
                await client.get("/api/v1/activity", params={"type": kind}, headers=trader.headers)
            )
            return page["items"]

        started = time.monotonic()
        entered = assert_ok(
            await client.post(
                f"{BOTS}/{bot_id}/forceenter", json={"pair": "ETH/USDT"}, headers=trader.headers
            )
        )
        [entry] = await eventually(lambda: feed("trade.entry"), seconds=15, what="entry event")
        entry_latency = time.monotonic() - started
        assert entry["bot_id"] == bot_id and entry["payload"]["pair"] == "ETH/USDT"
        assert entry["payload"]["trade_id"] == entered["trade_id"]

        async def filled() -> Any:
            trades = assert_ok(await client.get(f"{BOTS}/{bot_id}/status", headers=trader.headers))
            return trades and not trades[0].get("has_open_orders")

        await eventually(filled, seconds=30, what="the entry filling")
        await client.post(
            f"{BOTS}/{bot_id}/forceexit",
            json={"tradeid": entered["trade_id"]},
            headers=trader.headers,
        )
        [exit_event] = await eventually(lambda: feed("trade.exit"), seconds=30, what="exit event")
        assert exit_event["payload"]["exit_reason"] == "force_exit"
        assert entry_latency < 15

        profit = assert_ok(await client.get(f"{BOTS}/{bot_id}/profit", headers=trader.headers))
        async with fleet_app.state.database.transaction() as session:
            rows = (await session.execute(select(MirroredTrade))).scalars().all()
        assert [(r.ft_trade_id, r.is_open, r.pair) for r in rows] == [
            (entered["trade_id"], False, "ETH/USDT")
        ]
        assert rows[0].owner_id == trader.id
        assert float(rows[0].profit_abs) == pytest.approx(profit["profit_closed_coin"], abs=1e-8)
        assert rows[0].close_date is not None and rows[0].close_date >= rows[0].open_date
        # Bot state changes are in the feed too.
        statuses = [e["payload"]["status"] for e in await feed("bot.status")]
        assert "running" in statuses
        assert Decimal(str(rows[0].stake_amount)) > 0

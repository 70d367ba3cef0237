"""A real freqtrade bot on the simulator: its state changes and a forced trade reach a
connected WebSocket client as events within seconds."""

from __future__ import annotations

import time

import httpx
import pytest
from fastapi import FastAPI

from tests.bots.test_lifecycle import (  # noqa: F401 - fixtures
    BOTS,
    fleet_app,
    simulator,
    wait_status,
)
from tests.helpers import assert_ok
from tests.realtime.support import LiveServer, uvicorn_server

pytestmark = pytest.mark.freqtrade


async def test_a_forced_trade_reaches_the_websocket(fleet_app: FastAPI) -> None:  # noqa: F811
    async with (
        uvicorn_server(fleet_app) as base_url,
        httpx.AsyncClient(base_url=base_url, timeout=30) as http,
    ):
        live = LiveServer(app=fleet_app, base_url=base_url, http=http)
        async with live.stack:
            trader = await live.users.create()
            other = await live.users.create()
            body = {"name": "streamer", "pairs": ["BTC/USDT", "ETH/USDT"], "stake_amount": 50}
            bot_id = assert_ok(await http.post(BOTS, json=body, headers=trader.headers), 201)["id"]
            client = await live.connect(trader.access_token, bot_id=bot_id)
            stranger = await live.connect(other.access_token)

            assert_ok(await http.post(f"{BOTS}/{bot_id}/start", headers=trader.headers), 202)
            statuses = []
            while "running" not in statuses:
                message = await client.next("event", within=90)
                assert message["event"]["bot_id"] == bot_id
                if message["event"]["type"] == "bot.status":
                    statuses.append(message["event"]["payload"]["status"])
            await wait_status(http, trader, bot_id, "running")

            started = time.monotonic()
            entered = assert_ok(
                await http.post(
                    f"{BOTS}/{bot_id}/forceenter",
                    json={"pair": "ETH/USDT"},
                    headers=trader.headers,
                )
            )
            message = await client.next("event", within=15)
            latency = time.monotonic() - started
            event = message["event"]
            assert (event["type"], event["bot_id"], event["owner_id"]) == (
                "trade.entry",
                bot_id,
                trader.id,
            )
            assert event["payload"]["pair"] == "ETH/USDT"
            assert event["payload"]["trade_id"] == entered["trade_id"]
            assert latency < 10, f"the entry took {latency:.1f} s to reach the client"
            # Not a word of it to another user.
            assert [m for m in await stranger.quiet(0.5) if m["type"] != "heartbeat"] == []

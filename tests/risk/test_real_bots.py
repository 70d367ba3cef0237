"""A risk rule guarding a real freqtrade bot: a forced trade over the exposure limit raises an
alert, lands in the activity feed, and freqtrade itself stops entering trades."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI

from core_server.bots.models import Bot
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


async def test_exposure_over_the_limit_stops_entries(fleet_app: FastAPI) -> None:  # noqa: F811
    async with asgi_client(fleet_app) as client:
        trader = await UserFactory(fleet_app, client).create()
        headers = trader.headers
        body = {"name": "guarded", "pairs": ["BTC/USDT", "ETH/USDT"], "stake_amount": 50}
        bot_id = assert_ok(await client.post(BOTS, json=body, headers=headers), 201)["id"]
        await client.post(f"{BOTS}/{bot_id}/start", headers=headers)
        await wait_status(client, trader, bot_id, "running")
        rule = assert_ok(
            await client.post(
                "/api/v1/risk/rules",
                json={
                    "kind": "asset_max_exposure",
                    "asset": "BTC",
                    "threshold": 10,
                    "action": "stop_entries",
                },
                headers=headers,
            ),
            201,
        )
        async with fleet_app.state.database.transaction() as session:
            bot = await session.get(Bot, bot_id)
            assert bot is not None
        client_of_bot = fleet_app.state.bot_manager.client(bot)
        assert (await client_of_bot.show_config()).state == "running"

        assert_ok(
            await client.post(
                f"{BOTS}/{bot_id}/forceenter", json={"pair": "BTC/USDT"}, headers=headers
            )
        )

        async def alerts() -> Any:
            page = assert_ok(await client.get("/api/v1/monitoring/alerts", headers=headers))
            return page["items"]

        [alert] = await eventually(alerts, seconds=30, what="the exposure alert")
        assert alert["rule_id"] == rule["id"] and alert["kind"] == "asset_max_exposure"
        assert alert["severity"] == "critical"
        assert alert["message"].startswith("Open stake in BTC is ")
        assert alert["message"].endswith("over the 10 USDT limit: entries stopped on 1 bot.")
        assert 45 <= alert["details"]["exposure"] <= 50  # the stake, after amount rounding
        [action] = alert["details"]["actions"]
        assert action["bot_id"] == bot_id and action["ok"] is True, action

        feed = assert_ok(
            await client.get("/api/v1/activity", params={"type": "alert"}, headers=headers)
        )
        [event] = feed["items"]
        assert event["payload"]["alert_id"] == alert["id"]
        assert event["payload"]["acted_on"] == [bot_id]
        # freqtrade's own word: its trader is paused (no new entries, open trades managed).
        assert (await client_of_bot.show_config()).state == "paused"

        shown = assert_ok(await client.get(f"/api/v1/risk/rules/{rule['id']}", headers=headers))
        assert shown["triggered_at"] is not None

        # A restart would make freqtrade forget the pause; the still-triggered rule re-applies it.
        assert_ok(await client.post(f"{BOTS}/{bot_id}/restart", headers=headers), 202)
        await wait_status(client, trader, bot_id, "running")

        async def paused_again() -> bool:
            async with fleet_app.state.database.transaction() as session:
                restarted = await session.get(Bot, bot_id)
            assert restarted is not None
            shown_config = await fleet_app.state.bot_manager.client(restarted).show_config()
            return shown_config.state == "paused"

        await eventually(paused_again, seconds=30, what="the pause re-applied after a restart")

"""Analytics of a real freqtrade bot agree with the bot's own /profit for the same trades."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI

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


async def test_bot_figures_match_freqtrades_own(fleet_app: FastAPI) -> None:  # noqa: F811
    async with asgi_client(fleet_app) as client:
        trader = await UserFactory(fleet_app, client).create()
        headers = trader.headers
        body = {"name": "analysed", "pairs": ["BTC/USDT", "ETH/USDT"], "stake_amount": 50}
        bot_id = assert_ok(await client.post(BOTS, json=body, headers=headers), 201)["id"]
        await client.post(f"{BOTS}/{bot_id}/start", headers=headers)
        await wait_status(client, trader, bot_id, "running")

        for pair in ("BTC/USDT", "ETH/USDT"):
            entered = await client.post(
                f"{BOTS}/{bot_id}/forceenter", json={"pair": pair}, headers=headers
            )
            assert_ok(entered)

        async def both_filled() -> Any:
            trades = assert_ok(await client.get(f"{BOTS}/{bot_id}/status", headers=headers))
            return len(trades) == 2 and not any(t.get("has_open_orders") for t in trades)

        await eventually(both_filled, seconds=120, what="both entries filling")
        exited = await client.post(
            f"{BOTS}/{bot_id}/forceexit", json={"tradeid": "all"}, headers=headers
        )
        assert_ok(exited)

        async def mirrored() -> Any:
            data = assert_ok(
                await client.get(
                    "/api/v1/analytics/performance", params={"bot_id": bot_id}, headers=headers
                )
            )
            return data if data["closed_trade_count"] == 2 else None

        ours = await eventually(mirrored, seconds=120, what="the exits reaching analytics")
        theirs = assert_ok(await client.get(f"{BOTS}/{bot_id}/profit", headers=headers))

        # Fees alone make a round trip's profit non-zero: the comparison is not 0 == 0.
        assert ours["profit_abs"] != 0
        assert ours["profit_abs"] == pytest.approx(theirs["profit_closed_coin"], abs=1e-6)
        assert ours["closed_trade_count"] == theirs["closed_trade_count"] == 2
        assert ours["trade_count"] == theirs["trade_count"] == 2
        assert ours["wins"] == theirs["winning_trades"]
        assert ours["losses"] == theirs["losing_trades"]
        # The same starting capital as freqtrade (dry_run_wallet x tradable_balance_ratio).
        assert ours["profit_ratio"] == pytest.approx(theirs["profit_closed_ratio"], rel=1e-6)
        assert ours["max_drawdown_abs"] == pytest.approx(theirs["max_drawdown_abs"], abs=1e-6)
        assert ours["max_drawdown_ratio"] == pytest.approx(theirs["max_drawdown"], abs=1e-9)
        assert ours["win_rate"] == pytest.approx(theirs["winrate"])
        assert ours["expectancy"] == pytest.approx(theirs["expectancy"], abs=1e-6)
        if theirs["losing_trades"]:
            assert ours["profit_factor"] == pytest.approx(theirs["profit_factor"], abs=1e-9)
        assert ours["open_trade_count"] == 0

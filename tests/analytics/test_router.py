"""The analytics reports over a fleet with known numbers (tests/analytics/conftest.py), on SQLite
and PostgreSQL: every figure is checked against values worked out by hand."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from core_server.auth.models import Role
from core_server.bots.models import Bot, BotKind
from core_server.collector.schemas import BotLiveState
from tests.analytics.conftest import Fleet
from tests.analytics.factory import AnalyticsFactory, at
from tests.helpers import ActingUser, UserFactory, assert_error, assert_ok, assert_owner_only

API = "/api/v1/analytics"
MISSING_BOT = 2_147_483_000


def approx(value: float) -> Any:
    return pytest.approx(value, rel=1e-9, abs=1e-12)


async def get(client: httpx.AsyncClient, user: ActingUser, report: str, **params: Any) -> Any:
    return assert_ok(await client.get(f"{API}/{report}", params=params, headers=user.headers))


def sharpe(returns: list[float]) -> float:
    mean = sum(returns) / len(returns)
    std = math.sqrt(sum((r - mean) ** 2 for r in returns) / len(returns))
    return mean / std * math.sqrt(365)


def sortino(returns: list[float]) -> float:
    mean = sum(returns) / len(returns)
    downside = math.sqrt(sum(min(r, 0) ** 2 for r in returns) / len(returns))
    return mean / downside * math.sqrt(365)


async def test_one_bot_performance(client: httpx.AsyncClient, fleet: Fleet) -> None:
    data = await get(client, fleet.alice, "performance", bot_id=fleet.alpha.id)
    # Capital: dry_run_wallet 1000 x tradable_balance_ratio 0.99, as freqtrade's /profit has it.
    assert data["scope"] == {
        "bot_id": fleet.alpha.id,
        "strategy": None,
        "stake_currency": "USDT",
        "since": None,
        "until": None,
        "bot_count": 1,
    }
    assert data["starting_balance"] == approx(990)
    assert data["profit_abs"] == approx(15)  # 10 - 20 + 30 - 5
    assert data["profit_ratio"] == approx(15 / 990)
    assert data["profit_pct"] == approx(1500 / 990)
    assert data["profit_open_abs"] == approx(2)
    assert (data["trade_count"], data["closed_trade_count"], data["open_trade_count"]) == (5, 4, 1)
    assert (data["wins"], data["losses"], data["win_rate"]) == (2, 2, 0.5)
    assert data["avg_duration_seconds"] == approx((2 + 1 + 24 + 1) * 3600 / 4)
    assert data["profit_factor"] == approx(40 / 25)
    assert data["expectancy"] == approx(15 / 4)
    # Trade by trade: +10 (high 10), -20 (at -10: the deepest, 20 below the high), +30, -5.
    assert data["max_drawdown_abs"] == approx(20)
    assert data["max_drawdown_ratio"] == approx(20 / (990 + 10))
    assert data["max_drawdown_pct"] == approx(2.0)
    # Daily closed profit: 01-01 -10, 01-02 0, 01-03 +25.
    returns = [-10 / 990, 0 / 980, 25 / 980]
    assert data["sharpe"] == approx(sharpe(returns))
    assert data["sortino"] == approx(sortino(returns))
    assert data["calmar"] == approx(sum(returns) / 3 * 365 / 0.02)
    days = 2 + 13 / 24  # first open 01-01 00:00 to last close 01-03 13:00
    assert data["days"] == approx(days)
    assert data["cagr"] == approx((1005 / 990) ** (365 / days) - 1)
    assert data["period_start"] == data["first_trade_at"] == "2024-01-01T00:00:00Z"
    assert data["period_end"] == data["last_trade_at"] == "2024-01-03T13:00:00Z"


async def test_fleet_strategy_and_currency_scopes(client: httpx.AsyncClient, fleet: Fleet) -> None:
    # alice's bots use USDT and BTC: summing them would be meaningless.
    error = assert_error(
        await client.get(f"{API}/performance", headers=fleet.alice.headers),
        422,
        "STAKE_CURRENCY_REQUIRED",
    )
    assert error["details"]["fields"][0]["field"] == "stake_currency"
    assert error["details"]["allowed"] == ["BTC", "USDT"]

    fleet_usdt = await get(client, fleet.alice, "performance", stake_currency="usdt")
    assert fleet_usdt["scope"]["bot_count"] == 2
    assert fleet_usdt["starting_balance"] == approx(990 + 1980)
    assert fleet_usdt["profit_abs"] == approx(60)
    assert (fleet_usdt["closed_trade_count"], fleet_usdt["open_trade_count"]) == (7, 2)
    # b2 closed at exactly 0: a win, as freqtrade's /profit counts it.
    assert (fleet_usdt["wins"], fleet_usdt["losses"]) == (5, 2)
    assert fleet_usdt["profit_factor"] == approx(85 / 25)
    assert fleet_usdt["avg_duration_seconds"] == approx((28 + 24 + 6 + 1) * 3600 / 7)
    assert fleet_usdt["profit_open_abs"] == approx(2 - 4)
    # In close order: +10, -20, +40, +30, -5, 0, +5: the deepest point is still 20 below 10.
    assert fleet_usdt["max_drawdown_abs"] == approx(20)
    assert fleet_usdt["max_drawdown_ratio"] == approx(20 / 2980)
    returns = [-10 / 2970, 40 / 2960, 25 / 3000, 0, 0, 0, 0, 5 / 3025]
    assert fleet_usdt["sharpe"] == approx(sharpe(returns))
    assert fleet_usdt["days"] == approx(7 + 1 / 24)

    trend = await get(client, fleet.alice, "performance", strategy="TrendStrategy")
    assert trend["scope"]["bot_count"] == 1 and trend["starting_balance"] == approx(1980)
    assert trend["profit_abs"] == approx(45)
    assert (trend["wins"], trend["losses"]) == (3, 0)
    # No losing trade, no losing day: these are undefined, and null rather than inf.
    assert trend["profit_factor"] is None
    assert trend["sortino"] is None and trend["calmar"] is None
    assert trend["max_drawdown_abs"] == 0.0

    btc = await get(client, fleet.alice, "performance", stake_currency="BTC")
    assert btc["scope"]["bot_count"] == 1 and btc["starting_balance"] == approx(0.99)
    assert btc["profit_abs"] == approx(0.001) and btc["closed_trade_count"] == 1
    assert btc["sharpe"] is None  # one day of returns

    # gamma (BTC) once ran TrendStrategy: the strategy's trades are now in two currencies.
    await fleet.factory.trade(
        fleet.gamma, profit=0.002, ratio=0.02, opened=at(9), closed=at(9, 1),
        strategy="TrendStrategy",
    )  # fmt: skip
    mixed = await client.get(
        f"{API}/performance", params={"strategy": "TrendStrategy"}, headers=fleet.alice.headers
    )
    assert assert_error(mixed, 422, "STAKE_CURRENCY_REQUIRED")["details"]["allowed"] == [
        "BTC",
        "USDT",
    ]
    old_trend = await get(
        client, fleet.alice, "performance", strategy="TrendStrategy", stake_currency="BTC"
    )
    # The trade counts; the capital is of the bots running the strategy now (none in BTC).
    assert old_trend["profit_abs"] == approx(0.002) and old_trend["scope"]["bot_count"] == 0


async def test_a_period_starts_from_the_balance_it_had(
    client: httpx.AsyncClient, fleet: Fleet
) -> None:
    data = await get(
        client,
        fleet.alice,
        "performance",
        bot_id=fleet.alpha.id,
        since="2024-01-02T00:00:00Z",
        until="2024-01-04T00:00:00",  # no zone: UTC
    )
    # a1 and a2 (-10 together) closed before: the period starts from 980.
    assert data["starting_balance"] == approx(980)
    assert data["profit_abs"] == approx(25) and data["profit_ratio"] == approx(25 / 980)
    # until is in the past: the trades open now are not part of it.
    assert (data["trade_count"], data["open_trade_count"]) == (2, 0)
    assert data["max_drawdown_abs"] == approx(5)
    assert data["max_drawdown_ratio"] == approx(5 / (980 + 30))
    assert data["days"] == approx(2)
    assert data["sharpe"] == approx(sharpe([0, 25 / 980]))
    assert data["cagr"] == approx((1005 / 980) ** (365 / 2) - 1)
    assert data["scope"]["until"] == "2024-01-04T00:00:00Z"
    assert data["first_trade_at"] == "2024-01-02T00:00:00Z"


async def test_profit_series(client: httpx.AsyncClient, fleet: Fleet) -> None:
    daily = await get(
        client, fleet.alice, "profit", bot_id=fleet.alpha.id, until="2024-01-04T00:00:00Z"
    )
    assert daily["period"] == "day" and daily["starting_balance"] == approx(990)
    assert [
        (i["period_start"], i["trade_count"], i["wins"], i["profit_abs"]) for i in daily["items"]
    ] == [("2024-01-01", 2, 1, -10.0), ("2024-01-02", 0, 0, 0.0), ("2024-01-03", 2, 1, 25.0)]
    assert [i["profit_ratio"] for i in daily["items"]] == [
        approx(-10 / 990),
        0.0,
        approx(25 / 980),
    ]
    assert [i["cumulative_profit_abs"] for i in daily["items"]] == [-10, -10, 15]
    assert [i["balance"] for i in daily["items"]] == [980, 980, 1005]
    assert daily["truncated"] is False

    weekly = await get(
        client, fleet.alice, "profit", stake_currency="USDT", period="week", until="2024-01-10"
    )
    assert [(i["period_start"], i["trade_count"], i["profit_abs"]) for i in weekly["items"]] == [
        ("2024-01-01", 6, 55.0),
        ("2024-01-08", 1, 5.0),
    ]
    assert weekly["items"][1]["profit_ratio"] == approx(5 / 3025)

    monthly = await get(
        client, fleet.alice, "profit", stake_currency="USDT", period="month", until="2024-03-01"
    )
    assert [(i["period_start"], i["profit_abs"]) for i in monthly["items"]] == [
        ("2024-01-01", 60.0),
        ("2024-02-01", 0.0),
    ]

    # The latest step only; its cumulative figures still count what came before.
    last = await get(
        client, fleet.alice, "profit", stake_currency="USDT", limit=1, until="2024-01-09"
    )
    assert last["truncated"] is True
    assert [
        (i["period_start"], i["cumulative_profit_abs"], i["balance"]) for i in last["items"]
    ] == [("2024-01-08", 60.0, 3030.0)]

    window = await get(
        client,
        fleet.alice,
        "profit",
        stake_currency="USDT",
        since="2024-01-06T00:00:00Z",
        until="2024-01-09T00:00:00Z",
    )
    assert window["starting_balance"] == approx(2970 + 55)
    assert [(i["period_start"], i["profit_abs"]) for i in window["items"]] == [
        ("2024-01-06", 0.0),
        ("2024-01-07", 0.0),
        ("2024-01-08", 5.0),
    ]
    assert window["items"][-1]["cumulative_profit_abs"] == approx(5)


async def test_risk(client: httpx.AsyncClient, fleet: Fleet) -> None:
    data = await get(client, fleet.alice, "risk", stake_currency="USDT")
    assert data["balance"] == approx(2970 + 60)
    assert data["open_trade_count"] == 2
    assert data["exposure_abs"] == approx(300)  # a5 100 BTC, b3 200 ETH
    assert data["exposure_ratio"] == approx(300 / 3030)
    assert data["unrealised_profit_abs"] == approx(-2)
    assert data["open_risk_abs"] == approx(298)
    assert data["by_asset"] == [
        {"key": "ETH", "stake_abs": 200.0, "share": approx(2 / 3),
         "unrealised_profit_abs": -4.0, "trade_count": 1},
        {"key": "BTC", "stake_abs": 100.0, "share": approx(1 / 3),
         "unrealised_profit_abs": 2.0, "trade_count": 1},
    ]  # fmt: skip
    assert [i["key"] for i in data["by_pair"]] == ["ETH/USDT", "BTC/USDT"]
    assert [i["bot_id"] for i in data["by_bot"]] == [fleet.beta.id, fleet.alpha.id]
    assert data["concentration"] == {
        "largest_asset": "ETH",
        "largest_asset_share": approx(2 / 3),
        "largest_pair_share": approx(2 / 3),
        "largest_bot_share": approx(2 / 3),
        "hhi_asset": approx(5 / 9),
    }
    # The curve ends at its high (60): no current drawdown; the deepest was 20 below 10.
    assert data["current_drawdown_abs"] == 0.0
    assert data["max_drawdown_abs"] == approx(20)
    # 8 daily returns; sorted, the 5th percentile is 35 % of the way from the worst to 0.
    assert data["return_days"] == 8
    assert data["var_95_ratio"] == approx(0.65 * 10 / 2970)
    assert data["var_95_abs"] == approx(0.65 * 10 / 2970 * 3030)

    alpha = await get(client, fleet.alice, "risk", bot_id=fleet.alpha.id)
    # High 20 after a3, last 15: 5 below the high.
    assert alpha["current_drawdown_abs"] == approx(5)
    assert alpha["current_drawdown_ratio"] == approx(5 / (990 + 20))
    assert alpha["var_95_ratio"] == approx(0.9 * 10 / 990)


async def test_portfolio(app: FastAPI, client: httpx.AsyncClient, fleet: Fleet) -> None:
    # No live state and no snapshots: each bot is its wallet plus mirrored profit.
    data = await get(client, fleet.alice, "portfolio", stake_currency="USDT")
    assert data["valued_from"] == {"live": 0, "snapshot": 0, "estimated": 2}
    assert data["total_value"] == approx(1000 + 15 + 2 + 2000 + 45 - 4)
    assert data["value_at_change_since"] == approx(1015 + 2045)
    assert data["change_abs"] == approx(-2) and data["change_ratio"] == approx(-2 / 3060)
    assert data["active_positions"] == 2 and data["open_stake_abs"] == approx(300)
    assert data["available_balance"] == approx(1015 - 100 + 2045 - 200)
    assert data["unrealised_profit_abs"] == approx(-2)

    moment = datetime.fromisoformat(data["as_of"].replace("Z", "+00:00"))
    await fleet.factory.snapshot(fleet.alpha, moment - timedelta(hours=30), 1000, 900)
    await fleet.factory.snapshot(fleet.alpha, moment - timedelta(hours=1), 1017.5, 917.5)
    data = await get(client, fleet.alice, "portfolio", stake_currency="USDT")
    assert data["valued_from"] == {"live": 0, "snapshot": 1, "estimated": 1}
    assert data["total_value"] == approx(1017.5 + 2041)
    assert data["value_at_change_since"] == approx(1000 + 2045)
    assert data["available_balance"] == approx(917.5 + 1845)

    await app.state.live_state.put(
        BotLiveState(
            bot_id=fleet.beta.id, owner_id=fleet.alice.id, healthy=True, equity=2100, free=1900
        )
    )
    data = await get(client, fleet.alice, "portfolio", stake_currency="USDT")
    assert data["valued_from"] == {"live": 1, "snapshot": 1, "estimated": 0}
    assert data["total_value"] == approx(1017.5 + 2100)
    assert data["change_abs"] == approx(1017.5 + 2100 - 3045)
    assert data["available_balance"] == approx(917.5 + 1900)

    # As of a past moment: what was open then, valued from what was closed by then.
    past = await get(
        client, fleet.alice, "portfolio", stake_currency="USDT", until="2024-01-05T12:00:00Z"
    )
    assert past["as_of"] == "2024-01-05T12:00:00Z"
    assert past["change_since"] == "2024-01-04T12:00:00Z"
    assert past["active_positions"] == 1 and past["open_stake_abs"] == approx(100)  # a5
    assert past["total_value"] == approx(1015 + 2040)
    assert past["change_abs"] == 0.0
    assert past["available_balance"] == approx(1015 - 100 + 2040)
    assert past["unrealised_profit_abs"] is None


async def test_starting_capital_rules(
    app: FastAPI, users: UserFactory, client: httpx.AsyncClient
) -> None:
    user = await users.create()
    rows = AnalyticsFactory(app)
    halved = await rows.bot(user.id, config={"tradable_balance_ratio": 0.5})
    fixed = await rows.bot(user.id, config={"available_capital": 300})
    external = await rows.bot(user.id, kind=BotKind.external, dry_run=False)

    async def capital(bot_id: int) -> float:
        data = await get(client, user, "performance", bot_id=bot_id)
        value: float = data["starting_balance"]
        return value

    assert await capital(halved.id) == approx(500)
    assert await capital(fixed.id) == approx(300)
    # Not a managed dry-run bot: freqtrade's own figure from the collector, else the wallet.
    assert await capital(external.id) == approx(1000)
    await app.state.live_state.put(
        BotLiveState(bot_id=external.id, owner_id=user.id, healthy=True, starting_capital=750)
    )
    assert await capital(external.id) == approx(750)


async def test_tenancy(client: httpx.AsyncClient, users: UserFactory, fleet: Fleet) -> None:
    bob = await users.create()
    root = await users.create(Role.admin)
    bobs = await fleet.factory.bot(bob.id, dry_run_wallet=200)
    await fleet.factory.trade(bobs, profit=-3, ratio=-0.03, opened=at(2), closed=at(2, 1))
    for report in ("performance", "profit", "risk", "portfolio", "custom"):
        await assert_owner_only(
            client,
            "GET",
            f"{API}/{report}?bot_id={fleet.alpha.id}",
            owner=fleet.alice,
            stranger=bob,
            missing_path=f"{API}/{report}?bot_id={MISSING_BOT}",
        )
    foreign = await client.post(
        f"{API}/custom", json={"filters": {"bot_id": fleet.alpha.id}}, headers=bob.headers
    )
    assert_error(foreign, 404, "BOT_NOT_FOUND")

    # bob's fleet is his one bot, whatever the others hold.
    mine = await get(client, bob, "performance")
    assert mine["scope"]["bot_count"] == 1 and mine["starting_balance"] == approx(198)
    assert mine["profit_abs"] == approx(-3) and mine["trade_count"] == 1
    custom = assert_ok(await client.post(f"{API}/custom", json={}, headers=bob.headers))
    assert custom["rows"][0]["metrics"] == {"trade_count": 1, "profit_abs": -3.0}

    # An admin sees every tenant's bots.
    admin = await get(client, root, "performance", stake_currency="USDT")
    assert admin["scope"]["bot_count"] == 4
    assert admin["starting_balance"] == approx(2970 + 495 + 198)
    assert admin["profit_abs"] == approx(60 + 100 - 3) and admin["closed_trade_count"] == 9
    alpha = await get(client, root, "performance", bot_id=fleet.alpha.id)
    assert alpha["profit_abs"] == approx(15)


async def test_an_empty_fleet_answers_zeros_and_nulls(
    client: httpx.AsyncClient, users: UserFactory, fleet: Fleet
) -> None:
    carol = await users.create(Role.viewer)
    performance = await get(client, carol, "performance")
    assert performance["scope"]["stake_currency"] is None
    assert performance["scope"]["bot_count"] == 0
    assert (performance["starting_balance"], performance["profit_abs"]) == (0.0, 0.0)
    assert (performance["trade_count"], performance["wins"]) == (0, 0)
    for name in ("profit_ratio", "win_rate", "profit_factor", "expectancy", "sharpe", "sortino",
                 "calmar", "max_drawdown_abs", "cagr", "days", "period_start"):  # fmt: skip
        assert performance[name] is None, name

    assert (await get(client, carol, "profit"))["items"] == []
    risk = await get(client, carol, "risk")
    assert (risk["exposure_abs"], risk["exposure_ratio"], risk["var_95_ratio"]) == (0.0, None, None)
    assert risk["by_asset"] == risk["by_pair"] == risk["by_bot"] == []
    assert risk["concentration"]["hhi_asset"] is None
    portfolio = await get(client, carol, "portfolio")
    assert (portfolio["total_value"], portfolio["change_abs"], portfolio["change_ratio"]) == (
        0.0,
        0.0,
        None,
    )
    assert portfolio["active_positions"] == 0
    custom = assert_ok(await client.post(f"{API}/custom", json={}, headers=carol.headers))
    assert custom["rows"] == [{"group": {}, "metrics": {"trade_count": 0, "profit_abs": 0.0}}]


async def test_new_closed_trades_and_deleted_bots_show_at_once(
    app: FastAPI, client: httpx.AsyncClient, fleet: Fleet
) -> None:
    before = await get(client, fleet.alice, "performance", stake_currency="USDT")
    assert before["profit_abs"] == approx(60)
    # A trade mirrored as closed is in the next answer (the cached aggregates are recomputed).
    await fleet.factory.trade(fleet.alpha, profit=7, ratio=0.07, opened=at(9), closed=at(9, 1))
    after = await get(client, fleet.alice, "performance", stake_currency="USDT")
    assert after["profit_abs"] == approx(67) and after["closed_trade_count"] == 8
    # A deleted bot takes its trades with it.
    async with app.state.database.transaction() as session:
        await session.delete(await session.get(Bot, fleet.beta.id))
    gone = await get(client, fleet.alice, "performance", stake_currency="USDT")
    assert gone["scope"]["bot_count"] == 1 and gone["profit_abs"] == approx(22)


async def test_bad_parameters_get_422_naming_the_field(
    client: httpx.AsyncClient, fleet: Fleet
) -> None:
    headers = fleet.alice.headers

    async def field_error(response: httpx.Response) -> dict[str, Any]:
        error = assert_error(response, 422)
        [field] = error["details"]["fields"]
        result: dict[str, Any] = field
        return result

    window = await field_error(
        await client.get(
            f"{API}/performance",
            params={"since": "2024-01-05T00:00:00Z", "until": "2024-01-01T00:00:00Z"},
            headers=headers,
        )
    )
    assert window["field"] == "until"
    bad_date = await field_error(
        await client.get(f"{API}/risk", params={"since": "yesterday"}, headers=headers)
    )
    assert bad_date["field"] == "query.since"
    period = await field_error(
        await client.get(f"{API}/profit", params={"period": "year"}, headers=headers)
    )
    assert period["field"] == "query.period" and period["allowed"] == ["day", "week", "month"]
    unknown = await field_error(
        await client.get(f"{API}/performance", params={"wallet": "1"}, headers=headers)
    )
    assert unknown["field"] == "query.wallet"
    assert unknown["allowed"] == ["bot_id", "strategy", "stake_currency", "since", "until"]
    assert_error(await client.get(f"{API}/performance", params={"bot_id": 0}, headers=headers), 422)
    assert_error(
        await client.get(f"{API}/performance", params={"bot_id": MISSING_BOT}, headers=headers),
        404,
        "BOT_NOT_FOUND",
    )

"""Custom analytics: group-by, metrics and filters from whitelists over the fleet of
tests/analytics/conftest.py, and the 422s that name what was wrong and what is allowed."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from core_server.analytics.schemas import FILTER_NAMES, GROUP_BY_NAMES, METRIC_NAMES
from tests.analytics.conftest import Fleet
from tests.helpers import assert_error, assert_ok

CUSTOM = "/api/v1/analytics/custom"


def approx(value: float) -> Any:
    return pytest.approx(value, rel=1e-9, abs=1e-12)


async def test_group_bys_metrics_and_filters(client: httpx.AsyncClient, fleet: Fleet) -> None:
    headers = fleet.alice.headers

    async def post(body: dict[str, Any]) -> Any:
        return assert_ok(await client.post(CUSTOM, json=body, headers=headers))

    def table(data: Any) -> list[tuple[Any, ...]]:
        return [(*row["group"].values(), *row["metrics"].values()) for row in data["rows"]]

    by_bot = await post(
        {
            "group_by": ["bot"],
            "metrics": ["trade_count", "profit_abs", "win_rate", "volume",
                        "avg_duration_minutes", "profit_ratio_mean"],
            "filters": {"is_open": False, "stake_currency": "USDT"},
        }
    )  # fmt: skip
    assert by_bot["stake_currency"] == "USDT"
    assert table(by_bot) == [
        (fleet.alpha.id, 4, approx(15), 0.5, approx(400), approx(420), approx(0.0375)),
        (fleet.beta.id, 3, approx(45), 1.0, approx(600), approx(620), approx(0.075)),
    ]

    # The same through query parameters, ordered by a metric.
    by_exit = assert_ok(
        await client.get(
            CUSTOM,
            params={
                "group_by": "exit_reason",
                "metrics": ["trade_count", "profit_abs"],
                "stake_currency": "USDT",
                "is_open": "false",
                "order_by": "profit_abs",
                "descending": "true",
            },
            headers=headers,
        )
    )
    assert table(by_exit) == [("roi", 4, 85.0), ("force_exit", 1, 0.0), ("stop_loss", 2, -25.0)]

    # Open trades are dated by their open, closed ones by their close; weeks start on Monday.
    weekly = await post({"group_by": ["week"], "metrics": ["trade_count"],
                         "filters": {"stake_currency": "USDT"}})  # fmt: skip
    assert table(weekly) == [("2024-01-01", 8), ("2024-01-08", 1)]
    monthly = await post({"group_by": ["month"], "metrics": ["trade_count"]})
    assert table(monthly) == [("2024-01-01", 10)]

    eth_days = await post(
        {
            "group_by": ["day"],
            "metrics": ["profit_abs"],
            "filters": {"pair": "ETH/USDT", "is_open": False, "stake_currency": "USDT"},
        }
    )
    assert table(eth_days) == [("2024-01-01", -20.0), ("2024-01-02", 40.0), ("2024-01-03", -5.0)]

    shorts = await post({"group_by": ["is_short"], "metrics": ["trade_count"],
                         "filters": {"stake_currency": "USDT"}})  # fmt: skip
    assert table(shorts) == [(False, 8), (True, 1)]

    tagged = await post({"group_by": ["strategy", "enter_tag"], "metrics": ["trade_count"],
                         "filters": {"enter_tag": "breakout"}})  # fmt: skip
    assert table(tagged) == [("TrendStrategy", "breakout", 1)]

    assert table(await post({"metrics": ["trade_count"], "filters": {"min_profit": 10}})) == [(3,)]
    losers = {"is_open": False, "max_profit": 0, "stake_currency": "USDT"}
    assert table(await post({"metrics": ["trade_count"], "filters": losers})) == [(3,)]
    recent = {"since": "2024-01-05T00:00:00Z", "until": "2024-01-09T00:00:00Z"}
    assert table(await post({"metrics": ["trade_count"], "filters": recent})) == [(3,)]

    first = await post({"group_by": ["pair"], "metrics": ["trade_count"], "limit": 1})
    assert first["truncated"] is True and table(first) == [("BTC/USDT", 4)]  # a1 a3 a5 b4


async def test_currencies_and_bad_names(client: httpx.AsyncClient, fleet: Fleet) -> None:
    headers = fleet.alice.headers

    async def post(body: dict[str, Any]) -> httpx.Response:
        return await client.post(CUSTOM, json=body, headers=headers)

    # Counting needs no common currency; summing money does, unless grouped by currency.
    count = assert_ok(await post({"metrics": ["trade_count"]}))
    assert count["stake_currency"] is None and count["rows"][0]["metrics"] == {"trade_count": 10}
    mixed = assert_error(await post({"metrics": ["profit_abs"]}), 422, "STAKE_CURRENCY_REQUIRED")
    assert mixed["details"]["allowed"] == ["BTC", "USDT"]
    per_currency = assert_ok(
        await post({"group_by": ["stake_currency"], "metrics": ["trade_count", "profit_abs"]})
    )
    assert [
        (r["group"]["stake_currency"], r["metrics"]["profit_abs"]) for r in per_currency["rows"]
    ] == [
        ("BTC", approx(0.001)),
        ("USDT", approx(60 - 2)),  # open trades count with their unrealised profit
    ]

    def only_field(response: httpx.Response) -> dict[str, Any]:
        error = assert_error(response, 422)
        [field] = error["details"]["fields"]
        result: dict[str, Any] = field
        return result

    group = only_field(await post({"group_by": ["bot", "wallet"]}))
    assert group["field"] == "group_by.1" and group["allowed"] == list(GROUP_BY_NAMES)
    metric = only_field(await post({"metrics": ["sharpe"]}))
    assert metric["field"] == "metrics.0" and metric["allowed"] == list(METRIC_NAMES)
    filters = only_field(await post({"filters": {"owner_id": 1}}))
    assert filters["field"] == "filters.owner_id" and filters["allowed"] == list(FILTER_NAMES)
    raw = only_field(await post({"sql": "SELECT * FROM users"}))
    assert raw["field"] == "sql" and "group_by" in raw["allowed"]
    query = only_field(await client.get(CUSTOM, params={"group_by": "owner"}, headers=headers))
    assert query["field"] == "query.group_by.0" and query["allowed"] == list(GROUP_BY_NAMES)
    unknown = only_field(await client.get(CUSTOM, params={"owner_id": "1"}, headers=headers))
    assert unknown["field"] == "query.owner_id" and "pair" in unknown["allowed"]
    order = only_field(await post({"group_by": ["bot"], "order_by": "pair"}))
    assert order["field"] == "order_by" and order["allowed"] == ["bot", "trade_count", "profit_abs"]
    bad_order = only_field(await post({"order_by": "owner_id"}))
    assert bad_order["field"] == "order_by"
    assert bad_order["allowed"] == [*GROUP_BY_NAMES, *METRIC_NAMES]
    twice = only_field(await post({"group_by": ["bot", "bot"]}))
    assert twice["field"] == "group_by"
    dates = only_field(
        await post({"filters": {"since": "2024-01-02T00:00:00Z", "until": "2024-01-01T00:00:00Z"}})
    )
    assert dates["field"] == "until"
    assert_error(await post({"limit": 1001}), 422)

"""The jobs API without running freqtrade: input checks name the field, tenancy, paging, the
market data listing, and cancel/delete answers. Jobs go to a real Redis queue that no worker
reads here, so they stay queued."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.feather as feather
import pytest
from fastapi import FastAPI

from tests.backtests.conftest import REDIS_URL, days_ago, job_settings, started_app
from tests.helpers import UserFactory, assert_error, assert_ok, assert_owner_only

pytestmark = pytest.mark.redis

RUN = "/api/v1/backtest/run"


@pytest.fixture
async def api(
    data_dir: Path, database_url: str
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    settings = job_settings(data_dir, database_url, redis_url=REDIS_URL)
    async with started_app(settings) as pair:
        yield pair


def backtest(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "strategy": "SampleStrategy",
        "pairs": ["BTC/USDT", "ETH/USDT"],
        "timeframe": "5m",
        "timerange": days_ago(5, 2),
    }
    body.update(changes)
    return body


def field_names(error: dict[str, Any]) -> list[str]:
    return [entry["field"] for entry in error["details"]["fields"]]


async def test_bad_input_is_refused_naming_the_field(
    api: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = api
    trader = await UserFactory(app, client).create()
    future = (datetime.now(UTC).date() + timedelta(days=3)).strftime("%Y%m%d")
    cases = {
        "timerange": backtest(timerange="2025-01-01"),
        "pairs": backtest(pairs=["BTC/USDT", "ETH/BTC"]),
        "exchange": backtest(exchange="nowhere"),
        "timeframe": backtest(timeframe="7m"),
        "config": backtest(config={"db_url": "sqlite:///x"}),
        "stake_amount": backtest(stake_amount=-1),
    }
    for field, body in cases.items():
        error = assert_error(await client.post(RUN, json=body, headers=trader.headers), 422)
        assert field in field_names(error), (field, error)
    reversed_range = assert_error(
        await client.post(
            RUN, json=backtest(timerange="20250201-20250101"), headers=trader.headers
        ),
        422,
    )
    assert "before the end" in reversed_range["details"]["fields"][0]["message"]
    in_future = assert_error(
        await client.post(
            RUN, json=backtest(timerange=f"20250101-{future}"), headers=trader.headers
        ),
        422,
    )
    assert "future" in in_future["details"]["fields"][0]["message"]
    unknown = assert_error(
        await client.post(RUN, json=backtest(strategy="NoSuchStrategy"), headers=trader.headers),
        422,
        "UNKNOWN_STRATEGY",
    )
    assert field_names(unknown) == ["strategy"]
    hyperopt = assert_error(
        await client.post(
            "/api/v1/backtest/hyperopt",
            json={**backtest(), "loss": "NoSuchLoss", "epochs": 0},
            headers=trader.headers,
        ),
        422,
    )
    assert set(field_names(hyperopt)) == {"loss", "epochs"}


async def test_jobs_are_owned_paged_and_admins_see_all(
    api: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = api
    users = UserFactory(app, client)
    owner, stranger = await users.create(), await users.create()
    admin, viewer = await users.create("admin"), await users.create("viewer")

    created = assert_ok(await client.post(RUN, json=backtest(), headers=owner.headers), 202)
    assert created["state"] == "queued" and created["kind"] == "backtest"
    assert created["strategy_name"] == "SampleStrategy"
    download = assert_ok(
        await client.post(
            "/api/v1/backtest/data/download",
            json={"pairs": ["BTC/USDT"], "timeframes": ["5m", "1h"], "timerange": days_ago(3, 1)},
            headers=owner.headers,
        ),
        202,
    )
    assert download["kind"] == "download" and download["params"]["timeframes"] == ["5m", "1h"]

    assert_error(await client.post(RUN, json=backtest(), headers=viewer.headers), 403)
    await assert_owner_only(
        client,
        "GET",
        f"/api/v1/backtest/jobs/{created['id']}",
        owner=owner,
        stranger=stranger,
        missing_path="/api/v1/backtest/jobs/999999",
    )
    detail = assert_ok(
        await client.get(f"/api/v1/backtest/jobs/{created['id']}", headers=owner.headers)
    )
    assert "class SampleStrategy" in detail["strategy_code"] and detail["results"] is None

    mine = assert_ok(await client.get("/api/v1/backtest/jobs?limit=1", headers=owner.headers))
    assert mine["total"] == 2 and [j["id"] for j in mine["items"]] == [download["id"]]
    only_backtests = assert_ok(
        await client.get("/api/v1/backtest/jobs?kind=backtest", headers=owner.headers)
    )
    assert [j["id"] for j in only_backtests["items"]] == [created["id"]]
    theirs = assert_ok(await client.get("/api/v1/backtest/jobs", headers=stranger.headers))
    assert theirs["total"] == 0
    everyone = assert_ok(await client.get("/api/v1/backtest/jobs", headers=admin.headers))
    assert everyone["total"] == 2
    assert_error(await client.get("/api/v1/backtest/jobs?limit=501", headers=owner.headers), 422)


async def test_cancel_and_delete_twice_answer_cleanly(
    api: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = api
    users = UserFactory(app, client)
    owner, stranger = await users.create(), await users.create()
    first = assert_ok(await client.post(RUN, json=backtest(), headers=owner.headers), 202)
    second = assert_ok(await client.post(RUN, json=backtest(), headers=owner.headers), 202)
    path = f"/api/v1/backtest/jobs/{first['id']}"

    assert_error(await client.post(f"{path}/cancel", headers=stranger.headers), 404)
    cancelled = assert_ok(await client.post(f"{path}/cancel", headers=owner.headers))
    assert cancelled["state"] == "cancelled"
    assert cancelled["error"] == f"cancelled by {owner.username}"
    again = assert_error(
        await client.post(f"{path}/cancel", headers=owner.headers), 409, "JOB_NOT_ACTIVE"
    )
    assert "already cancelled" in again["message"]

    deleted = assert_ok(
        await client.delete(f"/api/v1/backtest/jobs/{second['id']}", headers=owner.headers)
    )
    assert deleted == {"id": second["id"], "state": "queued", "process_ended": None}
    assert_error(
        await client.delete(f"/api/v1/backtest/jobs/{second['id']}", headers=owner.headers),
        404,
        "JOB_NOT_FOUND",
    )
    assert_error(
        await client.get(f"/api/v1/backtest/jobs/{second['id']}", headers=owner.headers), 404
    )
    assert_ok(await client.delete(path, headers=owner.headers))
    assert_error(await client.delete(path, headers=owner.headers), 404)


async def test_market_data_lists_pair_timeframe_and_candle_range(
    api: tuple[FastAPI, httpx.AsyncClient], data_dir: Path
) -> None:
    app, client = api
    viewer = await UserFactory(app, client).create("viewer")
    folder = data_dir / "market_data" / "simulator"
    folder.mkdir(parents=True)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    dates = [start + timedelta(minutes=5 * i) for i in range(288)]
    table = pa.table(
        {
            "date": pa.array(dates, pa.timestamp("ms", tz="UTC")),
            **{name: pa.array([1.0] * 288) for name in ("open", "high", "low", "close", "volume")},
        }
    )
    feather.write_feather(table, folder / "BTC_USDT-5m.feather", compression="lz4")
    (folder / "notes.txt").write_text("not candles")

    listed = assert_ok(await client.get("/api/v1/backtest/data", headers=viewer.headers))
    assert listed["total"] == 1
    entry = listed["items"][0]
    assert (entry["exchange"], entry["pair"], entry["timeframe"]) == ("simulator", "BTC/USDT", "5m")
    assert entry["candles"] == 288
    assert entry["first_candle"].startswith("2026-01-01T00:00:00")
    assert entry["last_candle"].startswith("2026-01-01T23:55:00")
    assert (
        assert_ok(
            await client.get("/api/v1/backtest/data?exchange=binance", headers=viewer.headers)
        )["total"]
        == 0
    )
    assert_error(await client.get("/api/v1/backtest/data"), 401)

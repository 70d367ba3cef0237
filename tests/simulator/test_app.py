"""The simulator's HTTP API: Binance's shapes for every endpoint ccxt and freqtrade use, and
Binance's error bodies."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from core_server.simulator import SimulatorConfig, create_simulator_app
from core_server.simulator.candles import TIMEFRAMES
from core_server.simulator.market import Market
from tests.simulator.conftest import DAY_MS, NOW_MS
from tests.simulator.ohlcv import sample_candles, write_ohlcv

PAIRS = ("BTC/USDT", "ETH/USDT", "DOGE/USDT", "ETH/BTC")


@pytest.fixture(scope="module")
def app() -> FastAPI:
    return create_simulator_app(SimulatorConfig(pairs=PAIRS), clock=lambda: NOW_MS)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://simulator") as client:
        yield client


def market_of(app: FastAPI) -> Market:
    market: Market = app.state.market
    return market


async def get_json(client: httpx.AsyncClient, path: str, **params: Any) -> Any:
    response = await client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def test_ping_and_time(client: httpx.AsyncClient) -> None:
    assert await get_json(client, "/api/v3/ping") == {}
    assert await get_json(client, "/api/v3/time") == {"serverTime": NOW_MS}


async def test_exchange_info_lists_active_spot_markets(client: httpx.AsyncClient) -> None:
    info = await get_json(client, "/api/v3/exchangeInfo")
    assert info["timezone"] == "UTC" and info["serverTime"] == NOW_MS
    symbols = {s["symbol"]: s for s in info["symbols"]}
    assert list(symbols) == ["BTCUSDT", "ETHUSDT", "DOGEUSDT", "ETHBTC"]
    btc = symbols["BTCUSDT"]
    # What ccxt's binance parse_market reads to call a market active spot.
    assert btc["status"] == "TRADING"
    assert (btc["baseAsset"], btc["quoteAsset"]) == ("BTC", "USDT")
    assert btc["isSpotTradingAllowed"] is True
    assert btc["permissionSets"] == [["SPOT"]]
    assert "contractType" not in btc and "MARKET" in btc["orderTypes"]
    filters = {f["filterType"]: f for f in btc["filters"]}
    assert filters["PRICE_FILTER"]["tickSize"] == "0.01000000"
    assert filters["LOT_SIZE"]["stepSize"] == "0.00001000"
    assert filters["NOTIONAL"]["minNotional"] == "5.00000000"
    doge = {f["filterType"]: f for f in symbols["DOGEUSDT"]["filters"]}
    assert doge["PRICE_FILTER"]["tickSize"] == "0.00001000"
    assert doge["LOT_SIZE"]["stepSize"] == "1.00000000"
    assert {f["filterType"]: f for f in symbols["ETHBTC"]["filters"]}["NOTIONAL"][
        "minNotional"
    ] == "0.00010000"

    one = await get_json(client, "/api/v3/exchangeInfo", symbol="ETHBTC")
    assert [s["symbol"] for s in one["symbols"]] == ["ETHBTC"]
    some = await get_json(client, "/api/v3/exchangeInfo", symbols='["ETHUSDT","BTCUSDT"]')
    assert [s["symbol"] for s in some["symbols"]] == ["ETHUSDT", "BTCUSDT"]


async def test_klines_have_binance_shape_and_the_markets_values(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    rows = await get_json(client, "/api/v3/klines", symbol="BTCUSDT", interval="1h")
    assert len(rows) == 500  # Binance's default limit
    row = rows[-1]
    assert len(row) == 12
    assert isinstance(row[0], int) and isinstance(row[6], int) and isinstance(row[8], int)
    assert all(isinstance(row[i], str) for i in (1, 2, 3, 4, 5, 7, 9, 10, 11))
    assert row[1].count(".") == 1 and len(row[1].split(".")[1]) == 8
    assert row[0] <= NOW_MS <= row[6] == row[0] + 3_600_000 - 1
    candles = market_of(app).klines(
        "BTCUSDT", TIMEFRAMES["1h"], start_ms=None, end_ms=None, limit=500, now_ms=NOW_MS
    )
    assert [r[0] for r in rows] == candles.open_time.tolist()
    assert [float(r[4]) for r in rows] == candles.close.tolist()
    assert [float(r[5]) for r in rows] == candles.volume.tolist()


async def test_klines_page_with_start_end_and_limit(client: httpx.AsyncClient) -> None:
    start = NOW_MS - 10 * DAY_MS
    page = await get_json(
        client, "/api/v3/klines", symbol="ETHUSDT", interval="5m", startTime=start, limit=1000
    )
    assert len(page) == 1000 and page[0][0] >= start > page[0][0] - 300_000
    end = page[9][0]
    bounded = await get_json(
        client, "/api/v3/klines", symbol="ETHUSDT", interval="5m", startTime=start, endTime=end
    )
    assert bounded == page[:10]
    tail = await get_json(
        client, "/api/v3/klines", symbol="ETHUSDT", interval="5m", endTime=end, limit=3
    )
    assert tail == page[7:10]


async def test_depth_is_an_order_book_around_the_price(client: httpx.AsyncClient) -> None:
    book = await get_json(client, "/api/v3/depth", symbol="BTCUSDT", limit=50)
    price = float((await get_json(client, "/api/v3/ticker/price", symbol="BTCUSDT"))["price"])
    assert book["lastUpdateId"] == NOW_MS
    bids = [(float(p), float(q)) for p, q in book["bids"]]
    asks = [(float(p), float(q)) for p, q in book["asks"]]
    assert len(bids) == len(asks) == 50
    assert bids[0][0] < price < asks[0][0]
    assert [p for p, _ in bids] == sorted((p for p, _ in bids), reverse=True)
    assert [p for p, _ in asks] == sorted(p for p, _ in asks)
    assert all(q > 0 for _, q in bids + asks)
    default = await get_json(client, "/api/v3/depth", symbol="BTCUSDT")
    assert len(default["bids"]) == 100


async def test_tickers_agree_with_the_latest_candle_and_the_book(
    client: httpx.AsyncClient,
) -> None:
    candle = (await get_json(client, "/api/v3/klines", symbol="ETHUSDT", interval="1m", limit=1))[0]
    ticker = await get_json(client, "/api/v3/ticker/24hr", symbol="ETHUSDT")
    price = await get_json(client, "/api/v3/ticker/price", symbol="ETHUSDT")
    book_ticker = await get_json(client, "/api/v3/ticker/bookTicker", symbol="ETHUSDT")
    book = await get_json(client, "/api/v3/depth", symbol="ETHUSDT", limit=5)

    assert ticker["symbol"] == price["symbol"] == book_ticker["symbol"] == "ETHUSDT"
    assert ticker["lastPrice"] == price["price"] == candle[4]
    assert ticker["bidPrice"] == book_ticker["bidPrice"] == book["bids"][0][0]
    assert ticker["askPrice"] == book_ticker["askPrice"] == book["asks"][0][0]
    assert book_ticker["bidQty"] == book["bids"][0][1]
    assert float(ticker["lowPrice"]) <= float(ticker["lastPrice"]) <= float(ticker["highPrice"])
    assert ticker["openTime"] == NOW_MS - DAY_MS and ticker["closeTime"] == NOW_MS
    change = float(ticker["lastPrice"]) - float(ticker["openPrice"])
    assert float(ticker["priceChange"]) == pytest.approx(change)
    assert float(ticker["volume"]) > 0 and ticker["count"] > 0
    assert ticker["lastId"] - ticker["firstId"] + 1 == ticker["count"]


@pytest.mark.parametrize(
    "path", ["/api/v3/ticker/24hr", "/api/v3/ticker/bookTicker", "/api/v3/ticker/price"]
)
async def test_tickers_for_all_or_some_symbols_are_lists(
    client: httpx.AsyncClient, path: str
) -> None:
    everything = await get_json(client, path)
    assert [t["symbol"] for t in everything] == ["BTCUSDT", "ETHUSDT", "DOGEUSDT", "ETHBTC"]
    chosen = await get_json(client, path, symbols=json.dumps(["ETHBTC", "BTCUSDT"]))
    assert [t["symbol"] for t in chosen] == ["ETHBTC", "BTCUSDT"]
    one = await get_json(client, path, symbol="DOGEUSDT")
    assert isinstance(one, dict) and one["symbol"] == "DOGEUSDT"


@pytest.mark.parametrize(
    ("path", "params", "code", "msg"),
    [
        ("/api/v3/klines", {"symbol": "FOOBAR", "interval": "1m"}, -1121, "Invalid symbol."),
        ("/api/v3/depth", {"symbol": "btcusdt"}, -1121, "Invalid symbol."),
        ("/api/v3/ticker/24hr", {"symbol": "XYZUSDT"}, -1121, "Invalid symbol."),
        ("/api/v3/ticker/price", {"symbols": '["BTCUSDT","NOPE"]'}, -1121, "Invalid symbol."),
        ("/api/v3/exchangeInfo", {"symbol": "NOPE"}, -1121, "Invalid symbol."),
        ("/api/v3/klines", {"symbol": "BTCUSDT", "interval": "7m"}, -1120, "Invalid interval."),
        (
            "/api/v3/klines",
            {"interval": "1m"},
            -1102,
            "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.",
        ),
        (
            "/api/v3/klines",
            {"symbol": "BTCUSDT"},
            -1102,
            "Mandatory parameter 'interval' was not sent, was empty/null, or malformed.",
        ),
        (
            "/api/v3/depth",
            {},
            -1102,
            "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.",
        ),
        (
            "/api/v3/klines",
            {"symbol": "BTCUSDT", "interval": "1m", "limit": "ten"},
            -1100,
            "Illegal characters found in parameter 'limit'; legal range is '^[0-9]{1,20}$'.",
        ),
        (
            "/api/v3/klines",
            {"symbol": "BTCUSDT", "interval": "1m", "startTime": "-5"},
            -1100,
            "Illegal characters found in parameter 'startTime'; legal range is '^[0-9]{1,20}$'.",
        ),
        (
            "/api/v3/klines",
            {"symbol": "BTCUSDT", "interval": "1m", "limit": "1001"},
            -1130,
            "Data sent for parameter 'limit' is not valid.",
        ),
        (
            "/api/v3/klines",
            {"symbol": "BTCUSDT", "interval": "1m", "limit": "0"},
            -1130,
            "Data sent for parameter 'limit' is not valid.",
        ),
        (
            "/api/v3/depth",
            {"symbol": "BTCUSDT", "limit": "5001"},
            -1130,
            "Data sent for parameter 'limit' is not valid.",
        ),
        (
            "/api/v3/klines",
            {"symbol": "BTCUSDT", "interval": "1m", "startTime": "20", "endTime": "10"},
            -1023,
            "Start time is greater than end time.",
        ),
        ("/api/v3/ticker/price", {"symbol": ""}, -1105, "Parameter 'symbol' was empty."),
        (
            "/api/v3/ticker/24hr",
            {"symbol": "BTCUSDT", "symbols": '["BTCUSDT"]'},
            -1128,
            "Combination of optional parameters invalid.",
        ),
    ],
)
async def test_bad_requests_get_binance_error_bodies(
    client: httpx.AsyncClient, path: str, params: dict[str, str], code: int, msg: str
) -> None:
    response = await client.get(path, params=params)
    assert response.status_code == 400
    assert response.json() == {"code": code, "msg": msg}


@pytest.mark.parametrize("symbols", ["BTCUSDT", "[]", '["BTCUSDT",1]', "[BTCUSDT]"])
async def test_malformed_symbol_lists_are_refused(client: httpx.AsyncClient, symbols: str) -> None:
    response = await client.get("/api/v3/ticker/price", params={"symbols": symbols})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == -1100 and "'symbols'" in body["msg"]


async def test_unknown_endpoints_answer_in_binance_shape(client: httpx.AsyncClient) -> None:
    response = await client.get("/sapi/v1/capital/config/getall")
    assert response.status_code == 404
    assert response.json()["code"] == -1000
    assert "/sapi/v1/capital/config/getall" in response.json()["msg"]
    response = await client.post("/api/v3/ping")
    assert response.status_code == 405 and response.json()["code"] == -1000


async def test_status_reports_seed_pairs_and_modes(client: httpx.AsyncClient) -> None:
    status = await get_json(client, "/simulator/status")
    assert status["seed"] == 42 and status["server_time"] == NOW_MS
    assert status["history_start"] == "2020-01-01T00:00:00+00:00"
    pairs = {p["pair"]: p for p in status["pairs"]}
    assert list(pairs) == list(PAIRS)
    btc = pairs["BTC/USDT"]
    assert (btc["symbol"], btc["mode"], btc["base_timeframe"]) == ("BTCUSDT", "random", "1m")
    assert btc["replay_file"] is None
    assert btc["regime"] in {"trending_up", "trending_down", "ranging", "volatile"}
    price = await get_json(client, "/api/v3/ticker/price", symbol="BTCUSDT")
    assert btc["price"] == float(price["price"])


async def test_a_replayed_pair_refuses_intervals_shorter_than_its_file(tmp_path: Path) -> None:
    write_ohlcv(tmp_path / "BTC_USDT-5m.json", sample_candles(count=48))
    app = create_simulator_app(
        SimulatorConfig(pairs=("ETH/USDT",), replay_dir=tmp_path), clock=lambda: NOW_MS
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://simulator") as client:
        response = await client.get(
            "/api/v3/klines", params={"symbol": "BTCUSDT", "interval": "1m"}
        )
        assert response.status_code == 400
        assert response.json()["code"] == -1120
        assert "5m" in response.json()["msg"]
        fine = await get_json(client, "/api/v3/klines", symbol="BTCUSDT", interval="15m", limit=3)
        assert len(fine) == 3
        status = await get_json(client, "/simulator/status")
    modes = {p["pair"]: (p["mode"], p["replay_file"], p["regime"]) for p in status["pairs"]}
    assert modes == {
        "ETH/USDT": ("random", None, modes["ETH/USDT"][2]),
        "BTC/USDT": ("replay", "BTC_USDT-5m.json", None),
    }

"""The HTTP face of the simulator: the subset of Binance's public spot REST API that ccxt and
freqtrade use, with Binance's response shapes and error bodies, plus `/simulator/status`.

It is a separate application on purpose: exchange clients expect Binance's bare JSON and error
codes, not our API's envelope, and its own rate limits would only slow bots down.

Handlers are plain functions (FastAPI runs them in its thread pool), so computing a long run of
candles never blocks the event loop of the server the simulator is embedded in.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from core_server.simulator.candles import TIMEFRAMES, Candles, Timeframe
from core_server.simulator.config import SimulatorConfig
from core_server.simulator.market import Listing, Market, UnknownSymbol, UnsupportedInterval

logger = logging.getLogger(__name__)

Clock = Callable[[], int]
JsonObject = dict[str, Any]

KLINES_DEFAULT_LIMIT = 500
KLINES_MAX_LIMIT = 1000
DEPTH_DEFAULT_LIMIT = 100
DEPTH_MAX_LIMIT = 5000
_INTEGER = re.compile(r"^[0-9]{1,20}$")
_SYMBOL_LIST_RANGE = r'^\[("[A-Z0-9-_.]{1,20}"(,"[A-Z0-9-_.]{1,20}"){0,}){0,1}\]$'
_ORDER_TYPES = ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"]


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class BinanceError(Exception):
    """An error answered the way Binance does: `{"code": <negative int>, "msg": "..."}`."""

    def __init__(self, code: int, msg: str, status_code: int = 400) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.status_code = status_code


def _fmt(value: float) -> str:
    """Binance writes every price and quantity as a string with eight decimals."""
    return f"{value:.8f}"


class _Params:
    """Query parameters with Binance's validation and error codes."""

    def __init__(self, request: Request) -> None:
        self._query = request.query_params

    def text(self, name: str) -> str | None:
        value = self._query.get(name)
        if value is None:
            return None
        if not value:
            raise BinanceError(-1105, f"Parameter '{name}' was empty.")
        return value

    def required(self, name: str) -> str:
        value = self._query.get(name)
        if not value:
            raise BinanceError(
                -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
            )
        return value

    def integer(self, name: str) -> int | None:
        value = self.text(name)
        if value is None:
            return None
        if not _INTEGER.match(value):
            raise BinanceError(
                -1100,
                f"Illegal characters found in parameter '{name}'; legal range is "
                "'^[0-9]{1,20}$'.",
            )
        return int(value)

    def limit(self, default: int, maximum: int) -> int:
        value = self.integer("limit")
        if value is None:
            return default
        if not 1 <= value <= maximum:
            raise BinanceError(-1130, "Data sent for parameter 'limit' is not valid.")
        return value

    def symbol_list(self) -> list[str] | None:
        """`symbol=X` or `symbols=["X","Y"]` (not both); None when neither was sent."""
        symbol, symbols = self.text("symbol"), self.text("symbols")
        if symbol is not None and symbols is not None:
            raise BinanceError(-1128, "Combination of optional parameters invalid.")
        if symbol is not None:
            return [symbol]
        if symbols is None:
            return None
        try:
            parsed = json.loads(symbols)
        except ValueError:
            parsed = None
        if not (isinstance(parsed, list) and parsed and all(isinstance(s, str) for s in parsed)):
            raise BinanceError(
                -1100,
                f"Illegal characters found in parameter 'symbols'; legal range is "
                f"'{_SYMBOL_LIST_RANGE}'.",
            )
        return parsed


def create_simulator_app(config: SimulatorConfig, *, clock: Clock = wall_clock_ms) -> FastAPI:
    """The simulator's ASGI app. `clock` (epoch milliseconds) is the market's "now"; tests pass
    a fixed one to compare endpoints at the same instant."""
    market = Market.from_config(config)
    app = FastAPI(
        title="Freqtrade Multi-Bot market simulator",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.market = market

    @app.exception_handler(BinanceError)
    async def binance_error(request: Request, exc: BinanceError) -> JSONResponse:
        return JSONResponse({"code": exc.code, "msg": exc.msg}, status_code=exc.status_code)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        msg = (
            f"{request.method} {request.url.path} is not served by the market simulator "
            "(public spot market data only)."
            if exc.status_code in (404, 405)
            else str(exc.detail)
        )
        return JSONResponse({"code": -1000, "msg": msg}, status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("simulator request %s failed", request.url.path)
        return JSONResponse(
            {"code": -1000, "msg": "An unknown error occurred while processing the request."},
            status_code=500,
        )

    def listing(symbol: str) -> Listing:
        try:
            return market.listing(symbol)
        except UnknownSymbol:
            raise BinanceError(-1121, "Invalid symbol.") from None

    def listings(request: Request) -> list[Listing]:
        """The listings named by `symbol`/`symbols`, or all of them."""
        symbols = _Params(request).symbol_list()
        if symbols is None:
            return list(market.listings.values())
        return [listing(symbol) for symbol in symbols]

    def one_or_many(request: Request, rows: list[JsonObject]) -> JsonObject | list[JsonObject]:
        """Binance answers `symbol=X` with an object, anything else with a list."""
        return rows[0] if "symbol" in request.query_params else rows

    @app.get("/api/v3/ping")
    def ping() -> JsonObject:
        """Connectivity check."""
        return {}

    @app.get("/api/v3/time")
    def server_time() -> JsonObject:
        """The exchange clock."""
        return {"serverTime": clock()}

    @app.get("/api/v3/exchangeInfo")
    def exchange_info(request: Request) -> JsonObject:
        """Markets, with the fields ccxt's parse_market reads."""
        return {
            "timezone": "UTC",
            "serverTime": clock(),
            "rateLimits": [
                {
                    "rateLimitType": "REQUEST_WEIGHT",
                    "interval": "MINUTE",
                    "intervalNum": 1,
                    "limit": 6000,
                },
            ],
            "exchangeFilters": [],
            "symbols": [_symbol_info(item) for item in listings(request)],
        }

    @app.get("/api/v3/klines")
    def klines(request: Request) -> list[list[Any]]:
        """Candles: [open time, open, high, low, close, volume, close time, quote volume,
        trades, taker buy base volume, taker buy quote volume, "0"]."""
        params = _Params(request)
        item = listing(params.required("symbol"))
        timeframe = _interval(params.required("interval"))
        start, end = params.integer("startTime"), params.integer("endTime")
        limit = params.limit(KLINES_DEFAULT_LIMIT, KLINES_MAX_LIMIT)
        if start is not None and end is not None and start > end:
            raise BinanceError(-1023, "Start time is greater than end time.")
        try:
            candles = market.klines(
                item.spec.exchange_id,
                timeframe,
                start_ms=start,
                end_ms=end,
                limit=limit,
                now_ms=clock(),
            )
        except UnsupportedInterval as exc:
            raise BinanceError(-1120, f"Invalid interval. {exc}") from None
        return _kline_rows(candles)

    @app.get("/api/v3/depth")
    def depth(request: Request) -> JsonObject:
        """The order book around the current price."""
        params = _Params(request)
        item = listing(params.required("symbol"))
        limit = params.limit(DEPTH_DEFAULT_LIMIT, DEPTH_MAX_LIMIT)
        now = clock()
        book = market.book(item.spec.exchange_id, limit, now)
        return {
            "lastUpdateId": now,
            "bids": [[_fmt(price), _fmt(qty)] for price, qty in book.bids],
            "asks": [[_fmt(price), _fmt(qty)] for price, qty in book.asks],
        }

    @app.get("/api/v3/ticker/24hr")
    def ticker_24hr(request: Request) -> JsonObject | list[JsonObject]:
        """Rolling 24-hour statistics."""
        now = clock()
        rows = [_ticker(market, item, now) for item in listings(request)]
        return one_or_many(request, rows)

    @app.get("/api/v3/ticker/bookTicker")
    def book_ticker(request: Request) -> JsonObject | list[JsonObject]:
        """Best bid and ask."""
        now = clock()
        rows = []
        for item in listings(request):
            book = market.book(item.spec.exchange_id, 1, now)
            rows.append(
                {
                    "symbol": item.spec.exchange_id,
                    "bidPrice": _fmt(book.bids[0][0]),
                    "bidQty": _fmt(book.bids[0][1]),
                    "askPrice": _fmt(book.asks[0][0]),
                    "askQty": _fmt(book.asks[0][1]),
                }
            )
        return one_or_many(request, rows)

    @app.get("/api/v3/ticker/price")
    def ticker_price(request: Request) -> JsonObject | list[JsonObject]:
        """Last prices."""
        now = clock()
        rows: list[JsonObject] = [
            {
                "symbol": item.spec.exchange_id,
                "price": _fmt(market.price(item.spec.exchange_id, now)),
            }
            for item in listings(request)
        ]
        return one_or_many(request, rows)

    @app.get("/simulator/status")
    def status() -> JsonObject:
        """What this simulator serves: seed, history start, and each pair's mode and price."""
        now = clock()
        pairs = []
        for key, item in market.listings.items():
            regimes = market.regimes(key, now, now + 1)
            pairs.append(
                {
                    "pair": item.spec.symbol,
                    "symbol": key,
                    "mode": item.mode,
                    "replay_file": item.replay_file,
                    "base_timeframe": item.source.base.name,
                    "price": market.price(key, now),
                    "regime": regimes[0].regime.value if regimes else None,
                }
            )
        return {
            "seed": config.seed,
            "history_start": config.history_start.isoformat(),
            "server_time": now,
            "pairs": pairs,
        }

    return app


def _interval(name: str) -> Timeframe:
    timeframe = TIMEFRAMES.get(name)
    if timeframe is None:
        raise BinanceError(-1120, "Invalid interval.")
    return timeframe


def _kline_rows(candles: Candles) -> list[list[Any]]:
    columns = zip(
        candles.open_time.tolist(),
        candles.open.tolist(),
        candles.high.tolist(),
        candles.low.tolist(),
        candles.close.tolist(),
        candles.volume.tolist(),
        candles.close_time.tolist(),
        candles.quote_volume.tolist(),
        candles.trades.tolist(),
        candles.taker_base_volume.tolist(),
        candles.taker_quote_volume.tolist(),
        strict=True,
    )
    return [
        [t, _fmt(o), _fmt(h), _fmt(lo), _fmt(c), _fmt(v), ct, _fmt(qv), n, _fmt(tb), _fmt(tq), "0"]
        for t, o, h, lo, c, v, ct, qv, n, tb, tq in columns
    ]


def _ticker(market: Market, item: Listing, now: int) -> JsonObject:
    ticker = market.ticker(item.spec.exchange_id, now)
    change = ticker.last - ticker.open
    average = ticker.quote_volume / ticker.volume if ticker.volume else ticker.last
    # Trade ids: a running count of minutes is enough to make them increase over time.
    last_id = now // 60_000 * 1000
    return {
        "symbol": item.spec.exchange_id,
        "priceChange": _fmt(change),
        "priceChangePercent": f"{100 * change / ticker.open:.3f}",
        "weightedAvgPrice": _fmt(average),
        "prevClosePrice": _fmt(ticker.open),
        "lastPrice": _fmt(ticker.last),
        "lastQty": _fmt(round(item.source.trade_size, item.source.volume_decimals)),
        "bidPrice": _fmt(ticker.bid),
        "bidQty": _fmt(ticker.bid_qty),
        "askPrice": _fmt(ticker.ask),
        "askQty": _fmt(ticker.ask_qty),
        "openPrice": _fmt(ticker.open),
        "highPrice": _fmt(ticker.high),
        "lowPrice": _fmt(ticker.low),
        "volume": _fmt(ticker.volume),
        "quoteVolume": _fmt(ticker.quote_volume),
        "openTime": ticker.open_time,
        "closeTime": ticker.close_time,
        "firstId": last_id - ticker.trades + 1,
        "lastId": last_id,
        "count": ticker.trades,
    }


def _symbol_info(item: Listing) -> JsonObject:
    spec = item.spec
    tick = _fmt(10.0**-spec.price_decimals)
    step = _fmt(10.0**-spec.quantity_decimals)
    return {
        "symbol": spec.exchange_id,
        "status": "TRADING",
        "baseAsset": spec.base,
        "baseAssetPrecision": 8,
        "quoteAsset": spec.quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": _ORDER_TYPES,
        "icebergAllowed": True,
        "ocoAllowed": True,
        "otoAllowed": True,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": True,
        "cancelReplaceAllowed": True,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": tick,
                "maxPrice": _fmt(max(1_000_000.0, spec.base_price * 1000)),
                "tickSize": tick,
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": step,
                "maxQty": "9000000.00000000",
                "stepSize": step,
            },
            {"filterType": "ICEBERG_PARTS", "limit": 10},
            {
                "filterType": "NOTIONAL",
                "minNotional": _fmt(spec.min_notional),
                "applyMinToMarket": True,
                "maxNotional": "9000000.00000000",
                "applyMaxToMarket": False,
                "avgPriceMins": 5,
            },
            {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders": 5},
        ],
        "permissions": [],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }

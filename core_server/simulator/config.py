"""What the simulator serves: its settings, the pairs it knows, and the freqtrade exchange block
that points a bot at it."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

DEFAULT_PAIRS: tuple[str, ...] = (
    "BTC/USDT",
    "ETH/USDT",
    "BNB/USDT",
    "SOL/USDT",
    "XRP/USDT",
    "ADA/USDT",
    "DOGE/USDT",
    "LTC/USDT",
    "ETH/BTC",
    "BNB/BTC",
)

# Quote assets priced like the US dollar; unknown pairs quoted in one of them get dollar-like
# defaults, every other quote (BTC, ETH, BNB ...) small-number defaults.
STABLE_QUOTES = frozenset({"USDT", "USDC", "FDUSD", "BUSD", "TUSD", "DAI"})


class PairSpec(BaseModel):
    """One market's character: where its price starts, how much it moves and trades, and the
    exchange's precision for it (tick size and lot step as decimal places)."""

    model_config = ConfigDict(frozen=True)

    symbol: str
    base_price: float = Field(gt=0)
    annual_volatility: float = Field(gt=0)
    daily_quote_volume: float = Field(gt=0)
    price_decimals: int = Field(ge=0, le=8)
    quantity_decimals: int = Field(ge=0, le=8)
    min_notional: float = Field(ge=0)

    @property
    def base(self) -> str:
        return self.symbol.split("/")[0]

    @property
    def quote(self) -> str:
        return self.symbol.split("/")[1]

    @property
    def exchange_id(self) -> str:
        """Binance's name for the market: BTC/USDT is BTCUSDT."""
        return self.base + self.quote

    @classmethod
    def for_symbol(cls, symbol: str) -> PairSpec:
        """The built-in spec of a well-known pair, else a plausible generic one."""
        known = KNOWN_PAIRS.get(symbol)
        if known is not None:
            return known
        quote = symbol.split("/")[1]
        if quote in STABLE_QUOTES:
            price, volume, notional = 10.0, 5e7, 5.0
        else:
            price, volume, notional = 0.001, 100.0, 0.0001
        return cls(
            symbol=symbol,
            base_price=price,
            annual_volatility=0.9,
            daily_quote_volume=volume,
            price_decimals=significant_decimals(price),
            quantity_decimals=2,
            min_notional=notional,
        )


def significant_decimals(price: float, digits: int = 6) -> int:
    """Decimal places that show `price` with about `digits` significant digits (at most 8)."""
    return max(0, min(8, digits - 1 - math.floor(math.log10(price))))


def _spec(
    symbol: str,
    price: float,
    volatility: float,
    volume: float,
    price_decimals: int,
    quantity_decimals: int,
) -> PairSpec:
    notional = 5.0 if symbol.endswith("/USDT") else 0.0001
    return PairSpec(
        symbol=symbol,
        base_price=price,
        annual_volatility=volatility,
        daily_quote_volume=volume,
        price_decimals=price_decimals,
        quantity_decimals=quantity_decimals,
        min_notional=notional,
    )


# Prices, volatilities and daily quote volumes of the order real markets have had; tick sizes and
# lot steps as Binance lists them.
KNOWN_PAIRS: dict[str, PairSpec] = {
    spec.symbol: spec
    for spec in (
        _spec("BTC/USDT", 65_000.0, 0.55, 1.5e9, 2, 5),
        _spec("ETH/USDT", 3_200.0, 0.70, 8e8, 2, 4),
        _spec("BNB/USDT", 580.0, 0.60, 1.5e8, 2, 3),
        _spec("SOL/USDT", 150.0, 0.90, 4e8, 2, 3),
        _spec("XRP/USDT", 0.55, 0.85, 2e8, 4, 1),
        _spec("ADA/USDT", 0.45, 0.85, 8e7, 4, 1),
        _spec("DOGE/USDT", 0.12, 1.00, 2e8, 5, 0),
        _spec("LTC/USDT", 80.0, 0.75, 5e7, 2, 3),
        _spec("ETH/BTC", 0.05, 0.45, 800.0, 5, 4),
        _spec("BNB/BTC", 0.009, 0.50, 100.0, 6, 3),
    )
}


def _default_history_start() -> datetime:
    return datetime(2020, 1, 1, tzinfo=UTC)


class SimulatorConfig(BaseModel):
    """Settings of one simulator. The same seed, pairs and history start give the same candles
    in every process, so a test or a second server can recompute what a bot was served."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seed: int = Field(42, ge=0, lt=2**63)
    pairs: tuple[str, ...] = DEFAULT_PAIRS
    # Freqtrade OHLCV files (`BTC_USDT-5m.feather`, `.json`, ...); a pair with a file there is
    # replayed from it instead of the random model, and added to `pairs` if missing.
    replay_dir: Path | None = None
    host: str = "127.0.0.1"
    port: int = Field(8100, ge=0, le=65535)
    # The listing date: the first candle of every pair. Freqtrade asks for candles "since 0" to
    # find it, and history before it would only cost time.
    history_start: datetime = Field(default_factory=_default_history_start)

    @field_validator("pairs", mode="before")
    @classmethod
    def _split_pairs(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(pair.strip() for pair in value.split(",") if pair.strip())
        return value

    @field_validator("pairs")
    @classmethod
    def _check_pairs(cls, pairs: tuple[str, ...]) -> tuple[str, ...]:
        for pair in pairs:
            base, slash, quote = pair.partition("/")
            if not (slash and base.isalnum() and quote.isalnum() and pair.upper() == pair):
                raise ValueError(f"pair {pair!r} is not of the form BASE/QUOTE (e.g. BTC/USDT)")
        if len({pair.replace("/", "") for pair in pairs}) != len(pairs):
            raise ValueError("pairs must be unique")
        return pairs

    @field_validator("history_start")
    @classmethod
    def _check_history_start(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        if value.timestamp() % 86_400:
            raise ValueError("history_start must be midnight UTC")
        return value

    @property
    def history_start_ms(self) -> int:
        return int(self.history_start.timestamp() * 1000)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"


# Every API root ccxt's binance class knows, with the path it has there. All of them point at the
# simulator so that nothing a bot does can reach the real exchange: a call the simulator does not
# serve fails with a clear error instead of going to the internet.
_CCXT_API_ROOTS: dict[str, str] = {
    "public": "/api/v3",
    "private": "/api/v3",
    "v1": "/api/v1",
    "sapi": "/sapi/v1",
    "sapiV2": "/sapi/v2",
    "sapiV3": "/sapi/v3",
    "sapiV4": "/sapi/v4",
    "dapiPublic": "/dapi/v1",
    "dapiPrivate": "/dapi/v1",
    "dapiPrivateV2": "/dapi/v2",
    "dapiData": "/futures/data",
    "eapiPublic": "/eapi/v1",
    "eapiPrivate": "/eapi/v1",
    "fapiPublic": "/fapi/v1",
    "fapiPublicV2": "/fapi/v2",
    "fapiPublicV3": "/fapi/v3",
    "fapiPrivate": "/fapi/v1",
    "fapiPrivateV2": "/fapi/v2",
    "fapiPrivateV3": "/fapi/v3",
    "fapiData": "/futures/data",
    "papi": "/papi/v1",
    "papiV2": "/papi/v2",
}


def ccxt_overrides(base_url: str) -> dict[str, Any]:
    """The `exchange` block of a freqtrade config that trades (dry-run) and downloads candles
    against the simulator at `base_url`; add `pair_whitelist` to it.

    - `urls.api`: ccxt builds every request URL from these roots (binance `sign()`).
    - `options.fetchMarkets.types = ["spot"]`: else `load_markets` also asks the futures hosts.
    - `enable_ws: false`: else freqtrade opens ccxt.pro websockets to the real exchange.
    - `only_from_ccxt: true`: else `download-data` fetches 1m-5m spot candles from
      data.binance.vision archives (freqtrade's binance "fast download") before using the API.
    """
    return {
        "name": "binance",
        "ccxt_config": _ccxt_config(base_url),
        "ccxt_async_config": _ccxt_config(base_url),
        "enable_ws": False,
        "only_from_ccxt": True,
    }


def _ccxt_config(base_url: str) -> dict[str, Any]:
    root = base_url.rstrip("/")
    return {
        "urls": {"api": {name: root + path for name, path in _CCXT_API_ROOTS.items()}},
        "options": {"fetchMarkets": {"types": ["spot"]}},
    }

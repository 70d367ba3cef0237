"""The simulated market: a deterministic random price model with random access in time, and the
`Market` that serves candles, tickers and order books for every listed pair.

The random model
----------------
Every random number is a hash of (seed, pair, stream, index) - counter-based, like a keyed
PRNG that can jump anywhere - so the candles of any stretch of time are computed without
simulating what came before them, and the same seed gives the same candles in every process.

Prices are built in two layers:

1. An hourly *skeleton* of log prices from the pair's listing (`history_start`) onward: a chain of
   regimes (trending up, trending down, ranging, volatile), each lasting 6 h to 10 days, with its
   own drift and volatility. The regime that follows depends on how far the price has wandered
   from the pair's base price, which keeps prices in a realistic band over years. The chain is
   sequential but cheap (one step per regime, about 250 a year); it is built once per pair,
   cached, and rebuilt further when time passes it.
2. One-minute candles inside each hour: a Brownian bridge between the hour's two skeleton
   prices, so the minutes of an hour end exactly where the skeleton says, whatever range was
   asked for. Wicks, volume (higher when the price moves more, by hour of day and on weekdays)
   and the path inside each minute come from further hashed streams.

Every longer timeframe is aggregated from the one-minute candles (see `candles.aggregate`), so a
1h candle agrees exactly with its twelve 5m candles. The candle in progress follows the path
inside its last minute, so the current price moves between requests, and tickers and order books
are derived from it.
"""

from __future__ import annotations

import math
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from core_server.simulator.candles import (
    DAY_MS,
    HOUR_MS,
    TIMEFRAMES,
    BaseCandles,
    Candles,
    Floats,
    Ints,
    Timeframe,
    aggregate,
    round_to,
)
from core_server.simulator.config import PairSpec, SimulatorConfig

MINUTES_PER_YEAR = 365.25 * 24 * 60
# Base candles computed at once when aggregating long timeframes (a few MB of arrays).
_CHUNK_BASE_CANDLES = 2**17


class UnknownSymbol(KeyError):
    """The exchange does not list this symbol."""


class UnsupportedInterval(ValueError):
    """A replayed pair cannot make candles shorter than (or not made of) its file's."""


class Regime(StrEnum):
    trending_up = "trending_up"
    trending_down = "trending_down"
    ranging = "ranging"
    volatile = "volatile"


_REGIMES = tuple(Regime)
# Volatility and volume relative to the pair's normal; weighted by how often each regime
# occurs they average about 1, so a pair's realised volatility is close to its spec.
_VOLATILITY = {
    Regime.trending_up: 0.9,
    Regime.trending_down: 1.0,
    Regime.ranging: 0.55,
    Regime.volatile: 1.9,
}
_VOLUME = {
    Regime.trending_up: 1.15,
    Regime.trending_down: 1.3,
    Regime.ranging: 0.75,
    Regime.volatile: 1.9,
}
_MIN_REGIME_HOURS = 6
_MEAN_EXTRA_REGIME_HOURS = 30.0
_MAX_REGIME_HOURS = 240
# How far ahead of the hour asked for the skeleton is built, so a running server rebuilds it
# about once a month instead of every hour.
_SKELETON_MARGIN_HOURS = 30 * 24

# Hash streams: each kind of random number has its own, so adding one never shifts another.
_HOUR_NOISE = 1
_MINUTE_NOISE = 2
_REGIME_LENGTH = 3
_REGIME_KIND = 4
_REGIME_DRIFT = 5
_WICK_HIGH = 6
_WICK_LOW = 7
_VOLUME_NOISE = 8
_PATH_ORDER = 9
_PATH_T1 = 10
_PATH_T2 = 11
_BOOK_NOISE = 12

_MASK64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15


def _mix_int(x: int) -> int:
    """splitmix64's finaliser on a Python int (for keys)."""
    x &= _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def _mix(x: NDArray[np.uint64]) -> NDArray[np.uint64]:
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


class Noise:
    """Counter-based random numbers for one pair: number `index` of `stream` is a hash of
    (seed, pair, stream, index), so any stretch of time is drawn without drawing its past."""

    def __init__(self, seed: int, name: str) -> None:
        self._key = _mix_int(_mix_int(seed) ^ (zlib.crc32(name.encode()) << 32))

    def _stream_key(self, stream: int) -> np.uint64:
        return np.uint64(_mix_int(self._key ^ (stream * _GOLDEN)))

    def uniform(self, stream: int, index: Ints) -> Floats:
        """Uniform in (0, 1), never exactly 0 or 1."""
        x = index.astype(np.uint64) * np.uint64(_GOLDEN) + self._stream_key(stream)
        bits = _mix(x) >> np.uint64(11)
        return (bits.astype(np.float64) + 0.5) * 2.0**-53

    def normal(self, stream: int, index: Ints) -> Floats:
        """Standard normal (Box-Muller on two uniforms of sibling streams)."""
        u1 = self.uniform(stream, index)
        u2 = self.uniform(stream + 1000, index)
        return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


def _hour_of_day_factor(hours: Ints, amplitude: float, weekend: float) -> Floats:
    """Markets are busiest when Europe and the US overlap (around 15:00 UTC), quieter at
    weekends."""
    hour_of_day = hours % 24
    weekday = (hours // 24 + 3) % 7  # 1970-01-01 was a Thursday (Monday = 0)
    daily = 1.0 + amplitude * np.cos(2.0 * np.pi * (hour_of_day - 15) / 24.0)
    factor: Floats = daily * np.where(weekday >= 5, weekend, 1.0)
    return factor


@dataclass(frozen=True)
class RegimeSpan:
    regime: Regime
    start_ms: int
    end_ms: int
    drift_per_day: float


@dataclass(frozen=True)
class _Skeleton:
    first_hour: int
    log_price: Floats  # at the start of each hour; one more entry than hours
    sigma: Floats  # one-minute log volatility within each hour
    volume_factor: Floats  # regime and time-of-day volume multiplier of each hour
    regime_start: Ints  # absolute hour index at which each regime starts
    regimes: tuple[Regime, ...]
    drift: Floats  # log drift per hour of each regime

    @property
    def last_hour(self) -> int:
        """The first hour the skeleton does not cover."""
        return self.first_hour + len(self.sigma)


class CandleSource(Protocol):
    """Where a pair's candles come from: the random model or a replayed file."""

    base: Timeframe
    price_decimals: int
    volume_decimals: int
    # Volume of one typical trade, for the trade count and order book sizes.
    trade_size: float

    def base_candles(self, first: int, stop: int) -> BaseCandles:
        """Complete base candles with indices in [first, stop)."""
        ...


class RandomWalk:
    """The random price model of one pair (see the module docstring)."""

    base = TIMEFRAMES["1m"]

    def __init__(self, spec: PairSpec, seed: int, history_start_ms: int) -> None:
        self.spec = spec
        self.price_decimals = spec.price_decimals
        self.volume_decimals = spec.quantity_decimals
        self._noise = Noise(seed, spec.symbol)
        self._first_hour = history_start_ms // HOUR_MS
        self._log_base = math.log(spec.base_price)
        self._minute_sigma = spec.annual_volatility / math.sqrt(MINUTES_PER_YEAR)
        self._daily_sigma = spec.annual_volatility / math.sqrt(365.25)
        self._minute_volume = spec.daily_quote_volume / (24 * 60) / spec.base_price
        self.trade_size = self._minute_volume / 40
        self._lock = threading.Lock()
        self._skeleton: _Skeleton | None = None

    def base_candles(self, first: int, stop: int) -> BaseCandles:
        h0, h1 = first // 60, (stop - 1) // 60 + 1
        skeleton = self._skeleton_until(h1)
        rows = np.arange(h0, h1, dtype=np.int64) - skeleton.first_hour
        x0 = skeleton.log_price[rows][:, None]
        x1 = skeleton.log_price[rows + 1][:, None]
        sigma = skeleton.sigma[rows][:, None]
        minutes = np.arange(h0 * 60, h1 * 60, dtype=np.int64)
        # Brownian bridge from the hour's open to its close (cumsum keeps it exact to the bit
        # whatever range is computed; a mean would depend on memory layout).
        z = np.cumsum(self._noise.normal(_MINUTE_NOISE, minutes).reshape(-1, 60), axis=1)
        frac = np.arange(1, 61, dtype=np.float64) / 60.0
        log_close = x0 + frac * (x1 - x0) + sigma * (z - frac * z[:, -1:])
        log_close[:, -1] = x1[:, 0]
        log_open = np.concatenate((x0, log_close[:, :-1]), axis=1)

        cut = slice(first - h0 * 60, stop - h0 * 60)
        log_close, log_open = log_close.ravel()[cut], log_open.ravel()[cut]
        minutes, sigma_m = minutes[cut], np.repeat(sigma[:, 0], 60)[cut]
        noise = self._noise
        wick_high = -np.log(noise.uniform(_WICK_HIGH, minutes)) * 0.5 * sigma_m
        wick_low = -np.log(noise.uniform(_WICK_LOW, minutes)) * 0.5 * sigma_m
        log_high = np.maximum(log_open, log_close) + wick_high
        log_low = np.minimum(log_open, log_close) - wick_low

        # Volume follows how much the price moved (body and wicks, against the pair's normal
        # minute volatility), the regime, the hour of day, and some noise of its own.
        activity = (np.abs(log_close - log_open) + (wick_high + wick_low) / 2) / self._minute_sigma
        volume = (
            self._minute_volume
            * np.repeat(skeleton.volume_factor[rows], 60)[cut]
            * (0.4 + 0.45 * activity)
            * np.exp(0.35 * noise.normal(_VOLUME_NOISE, minutes) - 0.06)
        )
        step = 10.0**-self.volume_decimals
        rising = log_close > log_open
        return BaseCandles(
            first=first,
            open=self._price(log_open),
            high=self._price(log_high),
            low=self._price(log_low),
            close=self._price(log_close),
            volume=np.maximum(round_to(volume, self.volume_decimals), step),
            # A rising minute more often dips first, a falling one spikes first.
            high_first=noise.uniform(_PATH_ORDER, minutes) < np.where(rising, 0.3, 0.7),
            t1=0.1 + 0.35 * noise.uniform(_PATH_T1, minutes),
            t2=0.55 + 0.35 * noise.uniform(_PATH_T2, minutes),
        )

    def _price(self, log_price: Floats) -> Floats:
        """Prices rounded to the tick; rounding is monotonic, so low <= open/close <= high holds."""
        scale = 10.0**self.price_decimals
        return np.maximum(np.rint(np.exp(log_price) * scale), 1.0) / scale

    def regimes(self, start_ms: int, end_ms: int) -> list[RegimeSpan]:
        """The regimes overlapping [start_ms, end_ms)."""
        skeleton = self._skeleton_until(end_ms // HOUR_MS + 1)
        starts = np.append(skeleton.regime_start, skeleton.last_hour)
        spans = []
        for k, regime in enumerate(skeleton.regimes):
            span_start, span_end = int(starts[k]) * HOUR_MS, int(starts[k + 1]) * HOUR_MS
            if span_end > start_ms and span_start < end_ms:
                drift = float(skeleton.drift[k]) * 24
                spans.append(RegimeSpan(regime, span_start, span_end, drift))
        return spans

    def _skeleton_until(self, stop_hour: int) -> _Skeleton:
        """The skeleton covering every hour before `stop_hour`."""
        with self._lock:
            if self._skeleton is None or self._skeleton.last_hour < stop_hour:
                self._skeleton = self._build_skeleton(stop_hour + _SKELETON_MARGIN_HOURS)
            return self._skeleton

    def _build_skeleton(self, stop_hour: int) -> _Skeleton:
        """Regimes and hourly log prices from the listing to `stop_hour`. Built from scratch:
        every input is indexed by hour or by regime number, so a longer build agrees with a
        shorter one on the hours both cover."""
        n = max(stop_hour - self._first_hour, 1)
        hours = self._first_hour + np.arange(n, dtype=np.int64)
        season = _hour_of_day_factor(hours, 0.25, 0.8)
        hour_sigma = self._minute_sigma * math.sqrt(60)
        unit = np.concatenate(([0.0], np.cumsum(season * self._noise.normal(_HOUR_NOISE, hours))))
        unit *= hour_sigma
        max_regimes = np.arange(n // _MIN_REGIME_HOURS + 1, dtype=np.int64)
        u_length = self._noise.uniform(_REGIME_LENGTH, max_regimes)
        u_kind = self._noise.uniform(_REGIME_KIND, max_regimes)
        u_drift = self._noise.uniform(_REGIME_DRIFT, max_regimes)

        starts: list[int] = []
        kinds: list[Regime] = []
        drifts: list[float] = []
        x_starts: list[float] = []
        x, h, k = self._log_base, 0, 0
        while h < n:
            extra = int(-math.log(u_length[k]) * _MEAN_EXTRA_REGIME_HOURS)
            length = min(_MIN_REGIME_HOURS + extra, _MAX_REGIME_HOURS)
            regime, drift = self._next_regime(x, float(u_kind[k]), float(u_drift[k]))
            end = min(h + length, n)
            starts.append(h)
            kinds.append(regime)
            drifts.append(drift)
            x_starts.append(x)
            x = x + drift * (end - h) + _VOLATILITY[regime] * (unit[end] - unit[h])
            h, k = end, k + 1

        start = np.array(starts, dtype=np.int64)
        lengths = np.diff(np.append(start, n))
        owner = np.repeat(np.arange(len(starts)), lengths)
        owner = np.append(owner, owner[-1])  # the closing price belongs to the last regime
        points = np.arange(n + 1)
        vol = np.array([_VOLATILITY[r] for r in kinds])
        volume = np.array([_VOLUME[r] for r in kinds])
        drift_arr = np.array(drifts)
        log_price = (
            np.array(x_starts)[owner]
            + drift_arr[owner] * (points - start[owner])
            + vol[owner] * (unit - unit[start[owner]])
        )
        # Each regime's first point is the previous regime's end, as the loop computed it.
        log_price[start] = x_starts
        return _Skeleton(
            first_hour=self._first_hour,
            log_price=log_price,
            sigma=self._minute_sigma * season * vol[owner[:-1]],
            volume_factor=_hour_of_day_factor(hours, 0.35, 0.7) * volume[owner[:-1]],
            regime_start=start + self._first_hour,
            regimes=tuple(kinds),
            drift=drift_arr,
        )

    def _next_regime(self, x: float, u_kind: float, u_drift: float) -> tuple[Regime, float]:
        """The next regime and its log drift per hour. Far above the base price a fall is more
        likely than a rise (and the reverse), and a ranging market drifts back a little."""
        deviation = x - self._log_base
        pull = max(-1.0, min(1.0, deviation / (2.0 * self.spec.annual_volatility)))
        p_up, p_down = 0.25 * (1.0 - pull), 0.25 * (1.0 + pull)
        trend = self._daily_sigma * (0.4 + 0.8 * u_drift)
        if u_kind < p_up:
            return Regime.trending_up, trend / 24
        if u_kind < p_up + p_down:
            return Regime.trending_down, -trend / 24
        if u_kind < p_up + p_down + 0.35:
            return Regime.ranging, -0.05 * deviation / 24
        return Regime.volatile, self._daily_sigma * 0.4 * (u_drift - 0.5) / 24


@dataclass(frozen=True)
class Listing:
    """A pair the simulated exchange lists, and where its candles come from."""

    spec: PairSpec
    source: CandleSource
    first_open_ms: int
    # The replayed file, or None for the random model.
    replay_file: str | None = None

    @property
    def mode(self) -> str:
        return "random" if self.replay_file is None else "replay"


@dataclass(frozen=True)
class Ticker:
    """A rolling 24-hour ticker."""

    open_time: int
    close_time: int
    open: float
    high: float
    low: float
    last: float
    volume: float
    quote_volume: float
    trades: int
    bid: float
    bid_qty: float
    ask: float
    ask_qty: float


@dataclass(frozen=True)
class OrderBook:
    bids: list[tuple[float, float]]
    asks: list[tuple[float, float]]


# The book: half the spread and the distance between levels, as fractions of the price.
_HALF_SPREAD = 0.00005
_LEVEL_STEP = 0.0001


class Market:
    """Every listed pair: candles of any timeframe, the live price, tickers and order books,
    all as functions of time (`now_ms` is passed in, so callers and tests control the clock)."""

    def __init__(self, config: SimulatorConfig, listings: dict[str, Listing]) -> None:
        self.config = config
        self.listings = listings
        self._book_noise = {key: Noise(config.seed, f"book:{key}") for key in listings}

    @classmethod
    def from_config(cls, config: SimulatorConfig) -> Market:
        """Random-model pairs from `config.pairs`, replaced or joined by the replayed files."""
        from core_server.simulator.replay import load_replay_dir

        start = config.history_start_ms
        listings: dict[str, Listing] = {}
        for symbol in config.pairs:
            spec = PairSpec.for_symbol(symbol)
            source = RandomWalk(spec, config.seed, start)
            listings[spec.exchange_id] = Listing(spec, source, start)
        if config.replay_dir is not None:
            for replay in load_replay_dir(config.replay_dir):
                spec = replay.spec(PairSpec.for_symbol(replay.symbol))
                first_open = min(start, replay.first_open_ms)
                listings[spec.exchange_id] = Listing(spec, replay, first_open, replay.path.name)
        return cls(config, listings)

    def listing(self, symbol_id: str) -> Listing:
        try:
            return self.listings[symbol_id]
        except KeyError:
            raise UnknownSymbol(symbol_id) from None

    def klines(
        self,
        symbol_id: str,
        timeframe: Timeframe,
        *,
        start_ms: int | None,
        end_ms: int | None,
        limit: int,
        now_ms: int,
    ) -> Candles:
        """Binance's selection: with a start, the first `limit` candles opening at or after it;
        otherwise the last `limit` opening at or before the end (default now). Never candles
        before the listing or opening after now; the last one may be in progress."""
        listing = self.listing(symbol_id)
        first_allowed = timeframe.index_at(listing.first_open_ms)
        last = timeframe.index_at(now_ms)
        if end_ms is not None:
            last = min(last, timeframe.index_at(end_ms))
        if start_ms is not None:
            first = timeframe.index_at(start_ms)
            if timeframe.open_at(first) < start_ms:
                first += 1
            first = max(first, first_allowed)
            last = min(last, first + limit - 1)
        else:
            first = max(first_allowed, last - limit + 1)
        return self.candles(symbol_id, timeframe, first, last, now_ms=now_ms)

    def candles(
        self, symbol_id: str, timeframe: Timeframe, first: int, last: int, *, now_ms: int
    ) -> Candles:
        """Candles with indices first..last (inclusive) of `timeframe`, computed from base
        candles in chunks so that long timeframes do not need all their minutes in memory."""
        listing = self.listing(symbol_id)
        source = listing.source
        base = source.base
        if not base.divides(timeframe):
            raise UnsupportedInterval(
                f"{symbol_id} is replayed from {base.name} candles; "
                f"{timeframe.name} is not made of whole {base.name} candles"
            )
        if last < first:
            return Candles.empty()
        per_candle = max(1, timeframe.ms // base.ms)
        group = max(1, _CHUNK_BASE_CANDLES // per_candle)
        parts = [
            self._aggregate(listing, timeframe, i, min(i + group - 1, last), now_ms)
            for i in range(first, last + 1, group)
        ]
        return Candles.concat(parts)

    def _aggregate(
        self, listing: Listing, timeframe: Timeframe, first: int, last: int, now_ms: int
    ) -> Candles:
        source = listing.source
        base = source.base
        now_index = base.index_at(now_ms)
        b_first = max(base.index_at(timeframe.open_at(first)), base.index_at(listing.first_open_ms))
        b_stop = min(base.index_at(timeframe.open_at(last + 1)), now_index + 1)
        if b_stop <= b_first:
            return Candles.empty()
        candles = self._base_candles(listing, b_first, b_stop, now_ms)
        return aggregate(
            base,
            candles,
            timeframe,
            volume_decimals=source.volume_decimals,
            trade_size=source.trade_size,
        )

    def _base_candles(self, listing: Listing, first: int, stop: int, now_ms: int) -> BaseCandles:
        """Base candles [first, stop), the last cut at `now_ms` when it is still in progress."""
        source = listing.source
        candles = source.base_candles(first, stop)
        base = source.base
        if base.index_at(now_ms) == stop - 1:
            fraction = (now_ms - base.open_at(stop - 1)) / base.ms
            candles = candles.cut_last(fraction, source.price_decimals, source.volume_decimals)
        return candles

    def price(self, symbol_id: str, now_ms: int) -> float:
        """The last traded price: the close of the candle in progress."""
        listing = self.listing(symbol_id)
        now_index = listing.source.base.index_at(now_ms)
        return float(self._base_candles(listing, now_index, now_index + 1, now_ms).close[0])

    def ticker(self, symbol_id: str, now_ms: int) -> Ticker:
        """The rolling 24 h statistics Binance's /ticker/24hr reports, ending now."""
        listing = self.listing(symbol_id)
        base = listing.source.base
        first = max(base.index_at(now_ms - DAY_MS) + 1, base.index_at(listing.first_open_ms))
        window = self.candles(symbol_id, base, first, base.index_at(now_ms), now_ms=now_ms)
        book = self.book(symbol_id, 1, now_ms)
        return Ticker(
            open_time=now_ms - DAY_MS,
            close_time=now_ms,
            open=float(window.open[0]),
            high=float(window.high.max()),
            low=float(window.low.min()),
            last=float(window.close[-1]),
            volume=round(float(window.volume.sum()), listing.source.volume_decimals),
            quote_volume=float(window.quote_volume.sum()),
            trades=int(window.trades.sum()),
            bid=book.bids[0][0],
            bid_qty=book.bids[0][1],
            ask=book.asks[0][0],
            ask_qty=book.asks[0][1],
        )

    def book(self, symbol_id: str, limit: int, now_ms: int) -> OrderBook:
        """`limit` levels a side around the current price: the last price sits inside the
        spread, levels are about a basis point apart and get deeper away from it. The sizes
        change every second."""
        source = self.listing(symbol_id).source
        scale = 10**source.price_decimals
        last = round(self.price(symbol_id, now_ms) * scale)
        half = max(1, round(last * _HALF_SPREAD))
        step = max(1, round(last * _LEVEL_STEP))
        levels = np.arange(limit, dtype=np.int64)
        bids = last - half - step * levels
        bids = bids[bids > 0]
        asks = last + half + step * levels
        second = now_ms // 1000
        noise = self._book_noise[symbol_id]
        size = source.trade_size * 8 * (1.0 + 0.08 * levels.astype(np.float64))
        qty_step = 10.0**-source.volume_decimals

        def quantities(side: int) -> Floats:
            draw = noise.normal(_BOOK_NOISE, (second * 2 + side) * 10_000 + levels)
            return np.maximum(round_to(size * np.exp(0.5 * draw), source.volume_decimals), qty_step)

        return OrderBook(
            bids=list(_levels(bids / scale, quantities(0)[: len(bids)])),
            asks=list(_levels(asks / scale, quantities(1))),
        )

    def regimes(self, symbol_id: str, start_ms: int, end_ms: int) -> list[RegimeSpan]:
        """The random model's regimes overlapping [start_ms, end_ms); none for a replay."""
        source = self.listing(symbol_id).source
        return source.regimes(start_ms, end_ms) if isinstance(source, RandomWalk) else []


def _levels(prices: Floats, quantities: Floats) -> Iterator[tuple[float, float]]:
    return zip(prices.tolist(), quantities.tolist(), strict=True)

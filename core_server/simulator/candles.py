"""Timeframes and candle arrays: how base candles (1m for the random model, the file's timeframe
for a replay) become candles of any longer timeframe, so that every timeframe agrees."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Any, Self

import numpy as np
from numpy.typing import NDArray

Floats = NDArray[np.float64]
Ints = NDArray[np.int64]
Bools = NDArray[np.bool_]

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
# 1970-01-01 was a Thursday; Binance and ccxt start weekly candles on Mondays.
_MONDAY_OFFSET_MS = 4 * DAY_MS


@dataclass(frozen=True)
class Timeframe:
    """A Binance kline interval. Candle `i` opens at `i * ms + offset_ms`, except for calendar
    months (1M), which open on the first of each month (`i` counts months since 1970-01)."""

    name: str
    ms: int
    offset_ms: int = 0
    calendar_months: bool = False

    def index(self, ts: Ints) -> Ints:
        """The candle index holding each timestamp (ms)."""
        if self.calendar_months:
            return ts.astype("datetime64[ms]").astype("datetime64[M]").astype(np.int64)
        return (ts - self.offset_ms) // self.ms

    def open_ms(self, index: Ints) -> Ints:
        """The open time (ms) of each candle index."""
        if self.calendar_months:
            return index.astype("datetime64[M]").astype("datetime64[ms]").astype(np.int64)
        return index * self.ms + self.offset_ms

    def index_at(self, ts: int) -> int:
        return int(self.index(np.array([ts], dtype=np.int64))[0])

    def open_at(self, index: int) -> int:
        return int(self.open_ms(np.array([index], dtype=np.int64))[0])

    def divides(self, other: Timeframe) -> bool:
        """Whether every candle of `other` is made of whole candles of this timeframe."""
        return DAY_MS % self.ms == 0 and (other.calendar_months or other.ms % self.ms == 0)


def _fixed(name: str, ms: int, offset_ms: int = 0) -> Timeframe:
    return Timeframe(name, ms, offset_ms)


TIMEFRAMES: dict[str, Timeframe] = {
    tf.name: tf
    for tf in (
        _fixed("1m", MINUTE_MS),
        _fixed("3m", 3 * MINUTE_MS),
        _fixed("5m", 5 * MINUTE_MS),
        _fixed("15m", 15 * MINUTE_MS),
        _fixed("30m", 30 * MINUTE_MS),
        _fixed("1h", HOUR_MS),
        _fixed("2h", 2 * HOUR_MS),
        _fixed("4h", 4 * HOUR_MS),
        _fixed("6h", 6 * HOUR_MS),
        _fixed("8h", 8 * HOUR_MS),
        _fixed("12h", 12 * HOUR_MS),
        _fixed("1d", DAY_MS),
        # Multiples of three days since 1970-01-01, as ccxt and freqtrade round them.
        _fixed("3d", 3 * DAY_MS),
        _fixed("1w", 7 * DAY_MS, _MONDAY_OFFSET_MS),
        # `ms` of a month is only a lower bound (28 days), used to size requests.
        Timeframe("1M", 28 * DAY_MS, calendar_months=True),
    )
}


@dataclass(frozen=True)
class BaseCandles:
    """Consecutive candles of a source's base timeframe, starting at index `first`.

    `high_first`, `t1` and `t2` describe the path inside each candle, used for the live candle:
    open -> first extreme at fraction t1 -> other extreme at t2 -> close (see `cut_last`)."""

    first: int
    open: Floats
    high: Floats
    low: Floats
    close: Floats
    volume: Floats
    high_first: Bools
    t1: Floats
    t2: Floats

    def __len__(self) -> int:
        return len(self.open)

    def cut_last(self, fraction: float, price_decimals: int, volume_decimals: int) -> BaseCandles:
        """The same candles with the last one cut at `fraction` of its time: the candle in
        progress, whose close is the current price and whose high and low are the extremes its
        path has reached so far. Its volume grows in proportion to the time passed."""
        i = len(self) - 1
        first_extreme, second_extreme = (
            (self.high[i], self.low[i]) if self.high_first[i] else (self.low[i], self.high[i])
        )
        times = [0.0, float(self.t1[i]), float(self.t2[i]), 1.0]
        path = [float(p) for p in (self.open[i], first_extreme, second_extreme, self.close[i])]
        price = round(float(np.interp(fraction, times, path)), price_decimals)
        reached = [p for t, p in zip(times, path, strict=True) if t <= fraction] + [price]
        step = 10.0**volume_decimals
        volume = math.floor(float(self.volume[i]) * fraction * step) / step

        def with_last(array: Floats, value: float) -> Floats:
            changed = array.copy()
            changed[i] = value
            return changed

        return replace(
            self,
            high=with_last(self.high, max(reached)),
            low=with_last(self.low, min(reached)),
            close=with_last(self.close, price),
            volume=with_last(self.volume, volume),
        )


@dataclass(frozen=True)
class Candles:
    """Klines as Binance reports them, one array per column."""

    open_time: Ints
    close_time: Ints
    open: Floats
    high: Floats
    low: Floats
    close: Floats
    volume: Floats
    quote_volume: Floats
    trades: Ints
    taker_base_volume: Floats
    taker_quote_volume: Floats

    def __len__(self) -> int:
        return len(self.open_time)

    @classmethod
    def concat(cls, parts: list[Candles]) -> Self:
        return cls(
            **{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)}
        )

    @classmethod
    def empty(cls) -> Self:
        integers = {"open_time", "close_time", "trades"}
        columns: dict[str, Any] = {
            f.name: np.empty(0, dtype=np.int64 if f.name in integers else np.float64)
            for f in fields(cls)
        }
        return cls(**columns)


def aggregate(
    base: Timeframe,
    candles: BaseCandles,
    timeframe: Timeframe,
    *,
    volume_decimals: int,
    trade_size: float,
) -> Candles:
    """Group base candles into candles of `timeframe`: first open, highest high, lowest low,
    last close, summed volume. Volumes are rounded to the lot step, so a sum is the same number
    however it was grouped. Trades and taker volumes are estimates: one trade per `trade_size`
    of volume, and buyers take more of a rising candle's volume."""
    n = len(candles)
    base_open = base.open_ms(candles.first + np.arange(n, dtype=np.int64))
    keys = timeframe.index(base_open)
    starts = np.concatenate(([0], np.flatnonzero(np.diff(keys)) + 1))
    ends = np.concatenate((starts[1:], [n]))
    typical = (candles.open + candles.high + candles.low + candles.close) / 4
    span = candles.high - candles.low
    move = np.divide(candles.close - candles.open, span, out=np.zeros_like(span), where=span > 0)
    taker = candles.volume * np.clip(0.5 + 0.4 * move, 0.1, 0.9)
    trades = np.where(candles.volume > 0, np.maximum(1, np.rint(candles.volume / trade_size)), 0)
    volume = round_to(np.add.reduceat(candles.volume, starts), volume_decimals)
    taker_base = np.minimum(round_to(np.add.reduceat(taker, starts), volume_decimals), volume)
    group_keys = keys[starts]
    return Candles(
        open_time=timeframe.open_ms(group_keys),
        close_time=timeframe.open_ms(group_keys + 1) - 1,
        open=candles.open[starts],
        high=np.maximum.reduceat(candles.high, starts),
        low=np.minimum.reduceat(candles.low, starts),
        close=candles.close[ends - 1],
        volume=volume,
        quote_volume=np.add.reduceat(candles.volume * typical, starts),
        trades=np.add.reduceat(trades, starts).astype(np.int64),
        taker_base_volume=taker_base,
        taker_quote_volume=np.add.reduceat(taker * typical, starts),
    )


def round_to(values: Floats, decimals: int) -> Floats:
    """Round to `decimals` places; a sum of rounded volumes rounds back to the exact decimal."""
    scale = 10.0**decimals
    rounded: Floats = np.rint(values * scale) / scale
    return rounded

"""Replay freqtrade OHLCV files instead of the random model.

Freqtrade keeps candles as `{PAIR}-{timeframe}.{ext}` with `_` for `/` (`BTC_USDT-5m.feather`):
- `.feather` (freqtrade's default) and `.parquet`: columns date, open, high, low, close, volume;
  read with pyarrow (feather files are Arrow IPC, usually lz4-compressed);
- `.json` and `.json.gz`: `[[open_time_ms, open, high, low, close, volume], ...]`.
Futures, mark-price and trades files do not match the pattern and are ignored.

How time maps onto a file: its candles are served at their own timestamps, and outside the file's
span the data repeats *mirror-wise* - forwards, then backwards in time, then forwards again (a
played-backwards candle swaps its open and close). The series therefore never jumps at a seam
and never drifts away, and every moment - the listing, years back, and "now", which usually lies
after the file ends - falls inside the data. Missing candles inside the file are filled with flat,
zero-volume candles at the last close, so positions stay on the timeframe's grid.

A replayed pair serves its file's timeframe and every timeframe made of whole candles of it (a 5m
file serves 5m, 15m, 1h, 1d, 1w, 1M ...), not shorter ones.
"""

from __future__ import annotations

import gzip
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core_server.simulator.candles import DAY_MS, TIMEFRAMES, BaseCandles, Floats, Ints, Timeframe
from core_server.simulator.config import PairSpec

_FILE_NAME = re.compile(
    r"^(?P<base>[A-Z0-9]+)_(?P<quote>[A-Z0-9]+)-(?P<timeframe>\d+[mhdwM])"
    r"\.(?P<ext>json|json\.gz|feather|parquet)$"
)
# Arrow timestamp units per millisecond.
_UNITS_PER_MS = {"s": None, "ms": 1, "us": 1_000, "ns": 1_000_000}


class ReplayError(ValueError):
    """A replay directory or file that cannot be served."""


@dataclass(frozen=True)
class Ohlcv:
    """Candles as freqtrade stores them, sorted by open time without duplicates."""

    open_time: Ints
    open: Floats
    high: Floats
    low: Floats
    close: Floats
    volume: Floats


def load_ohlcv_file(path: Path) -> Ohlcv:
    """Read one freqtrade OHLCV file (json, json.gz, feather or parquet)."""
    name = path.name
    try:
        if name.endswith((".json", ".json.gz")):
            columns = _read_json(path)
        elif name.endswith((".feather", ".parquet")):
            columns = _read_arrow(path)
        else:
            raise ReplayError(f"{name}: not a freqtrade OHLCV file (json, feather or parquet)")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ReplayError(f"{name}: cannot read OHLCV data ({exc})") from exc
    open_time = columns[0].astype(np.int64)
    if len(open_time) == 0:
        raise ReplayError(f"{name}: holds no candles")
    order = np.argsort(open_time, kind="stable")
    keep = np.concatenate(([True], np.diff(open_time[order]) > 0))
    rows = order[keep]
    values = [np.asarray(column, dtype=np.float64)[rows] for column in columns[1:]]
    return Ohlcv(open_time[rows], *values)


def _read_json(path: Path) -> list[np.ndarray[Any, Any]]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt") as file:
        rows = json.load(file)
    table = np.asarray(rows, dtype=np.float64).reshape(-1, 6)
    return [table[:, 0], *(table[:, i] for i in range(1, 6))]


def _read_arrow(path: Path) -> list[np.ndarray[Any, Any]]:
    # pyarrow ships no type information; everything it returns is checked and converted here.
    # Imported here: loading it costs a noticeable part of a second, and only replays need it.
    from pyarrow import feather, parquet  # type: ignore[import-untyped]

    reader = feather if path.name.endswith(".feather") else parquet
    table = reader.read_table(path)
    date = table.column("date")
    unit = getattr(date.type, "unit", None)
    if unit not in _UNITS_PER_MS:
        raise ReplayError(f"{path.name}: column 'date' is not a timestamp")
    raw = np.asarray(date.cast("int64").to_numpy(), dtype=np.int64)
    per_ms = _UNITS_PER_MS[unit]
    open_time = raw * 1000 if per_ms is None else raw // per_ms
    names = ("open", "high", "low", "close", "volume")
    return [open_time, *(np.asarray(table.column(n).to_numpy(), dtype=np.float64) for n in names)]


def _decimals(values: Floats) -> int:
    """The fewest decimal places (at most 8) that write every value exactly."""
    for decimals in range(9):
        scaled = values * 10.0**decimals
        if np.allclose(scaled, np.rint(scaled), rtol=1e-9, atol=1e-6):
            return decimals
    return 8


class Replay:
    """A pair served from an OHLCV file (see the module docstring for the time mapping)."""

    def __init__(self, symbol: str, timeframe: Timeframe, data: Ohlcv, path: Path) -> None:
        if timeframe.calendar_months or DAY_MS % timeframe.ms:
            raise ReplayError(f"{path.name}: cannot replay {timeframe.name} candles (1m to 1d)")
        if np.any(data.open_time % timeframe.ms):
            raise ReplayError(f"{path.name}: open times are not on the {timeframe.name} grid")
        self.symbol = symbol
        self.base = timeframe
        self.path = path
        self.first_open_ms = int(data.open_time[0])
        self._first_index = self.first_open_ms // timeframe.ms
        self._fill(data)
        self.price_decimals = _decimals(np.concatenate((self._open, self._high, self._low)))
        self.volume_decimals = _decimals(self._volume)
        typical = float(np.median(self._volume[self._volume > 0])) if self._volume.any() else 1.0
        self.trade_size = typical / (40 * timeframe.ms / 60_000)

    def _fill(self, data: Ohlcv) -> None:
        """Put the candles on the timeframe's grid; a missing candle is flat at the last close
        and has no volume."""
        positions = (data.open_time - self.first_open_ms) // self.base.ms
        n = int(positions[-1]) + 1
        present = np.zeros(n, dtype=bool)
        present[positions] = True
        source = np.maximum.accumulate(np.where(present, np.cumsum(present) - 1, 0))
        last_close = data.close[source]

        def column(values: Floats) -> Floats:
            return np.where(present, values[source], last_close)

        self._open = column(data.open)
        self._high = column(data.high)
        self._low = column(data.low)
        self._close = column(data.close)
        self._volume = np.where(present, data.volume[source], 0.0)

    def __len__(self) -> int:
        return len(self._open)

    def base_candles(self, first: int, stop: int) -> BaseCandles:
        n = len(self)
        phase = (np.arange(first, stop, dtype=np.int64) - self._first_index) % (2 * n)
        backwards = phase >= n
        rows = np.where(backwards, 2 * n - 1 - phase, phase)
        opens, closes = self._open[rows], self._close[rows]
        open_ = np.where(backwards, closes, opens)
        close = np.where(backwards, opens, closes)
        count = stop - first
        return BaseCandles(
            first=first,
            open=open_,
            high=self._high[rows],
            low=self._low[rows],
            close=close,
            volume=self._volume[rows],
            # The usual assumption for a candle's path: a rising one dips first.
            high_first=close < open_,
            t1=np.full(count, 1 / 3),
            t2=np.full(count, 2 / 3),
        )

    def spec(self, default: PairSpec) -> PairSpec:
        """The pair's exchange listing with the file's own precision and last price."""
        return default.model_copy(
            update={
                "base_price": float(self._close[-1]) or default.base_price,
                "price_decimals": self.price_decimals,
                "quantity_decimals": self.volume_decimals,
            }
        )


def load_replay_dir(directory: Path) -> list[Replay]:
    """One replay per pair with a spot OHLCV file in `directory`; with several timeframes of a
    pair, the shortest (it serves the most timeframes)."""
    if not directory.is_dir():
        raise ReplayError(f"replay directory {directory} does not exist")
    found: dict[str, tuple[Timeframe, Path]] = {}
    for path in sorted(directory.iterdir()):
        match = _FILE_NAME.match(path.name)
        if match is None or match["timeframe"] not in TIMEFRAMES:
            continue
        symbol = f"{match['base']}/{match['quote']}"
        timeframe = TIMEFRAMES[match["timeframe"]]
        if symbol not in found or timeframe.ms < found[symbol][0].ms:
            found[symbol] = (timeframe, path)
    return [
        Replay(symbol, timeframe, load_ohlcv_file(path), path)
        for symbol, (timeframe, path) in found.items()
    ]

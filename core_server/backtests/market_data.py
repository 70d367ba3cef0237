"""The shared candle store: freqtrade's own files under MARKET_DATA_DIR/<exchange>/, read here
with pyarrow (never freqtrade's code), and the lock that keeps a download from rewriting a file
while a backtest reads it."""

from __future__ import annotations

import asyncio
import fcntl
import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.feather as feather  # type: ignore[import-untyped]

from core_server.backtests.schemas import MarketDataFile
from core_server.core.settings import Settings

# BTC_USDT-5m.feather (spot); futures files live in futures/ and are not ours.
_FILE = re.compile(r"^(?P<base>[A-Z0-9]+)_(?P<quote>[A-Z0-9]+)-(?P<tf>\d+[mhdwM])\.feather$")
_TIMEFRAME_SECONDS = {"m": 60, "h": 3600, "d": 86_400, "w": 604_800, "M": 2_592_000}


def timeframe_seconds(timeframe: str) -> int:
    return int(timeframe[:-1]) * _TIMEFRAME_SECONDS[timeframe[-1]]


def market_data_root(settings: Settings) -> Path:
    return (settings.market_data_dir or settings.data_dir / "market_data").resolve()


def exchange_dir(settings: Settings, exchange: str) -> Path:
    """Simulator candles and a real exchange's never share a folder, though freqtrade calls
    both binance."""
    return market_data_root(settings) / exchange


def candle_file(directory: Path, pair: str, timeframe: str) -> Path:
    return directory / f"{pair.replace('/', '_')}-{timeframe}.feather"


@dataclass(frozen=True)
class Coverage:
    candles: int
    first: datetime | None
    last: datetime | None


def read_coverage(path: Path) -> Coverage | None:
    """First and last candle of a freqtrade feather file (only its date column is read)."""
    try:
        table = feather.read_table(path, columns=["date"], memory_map=True)
    except (OSError, ValueError, KeyError):
        return None
    if table.num_rows == 0:
        return Coverage(0, None, None)
    dates = table.column("date")
    first, last = dates[0].as_py(), dates[-1].as_py()
    return Coverage(table.num_rows, _utc(first), _utc(last))


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def list_files(settings: Settings, exchange: str | None = None) -> list[MarketDataFile]:
    root = market_data_root(settings)
    if not root.is_dir():
        return []
    found = []
    for directory in sorted(p for p in root.iterdir() if p.is_dir()):
        if exchange is not None and directory.name != exchange:
            continue
        for path in sorted(directory.glob("*.feather")):
            match = _FILE.match(path.name)
            coverage = read_coverage(path) if match else None
            if match is None or coverage is None:
                continue
            found.append(
                MarketDataFile(
                    exchange=directory.name,
                    pair=f"{match['base']}/{match['quote']}",
                    timeframe=match["tf"],
                    candles=coverage.candles,
                    first_candle=coverage.first,
                    last_candle=coverage.last,
                    size_bytes=path.stat().st_size,
                )
            )
    return found


def missing_pairs(
    directory: Path, pairs: list[str], timeframe: str, start: datetime, end: datetime
) -> list[str]:
    """Pairs whose file does not hold candles from `start` to the last complete candle before
    `end` (or before now, for a range that ends today)."""
    step = timeframe_seconds(timeframe)
    now = datetime.now(UTC).timestamp()
    last_needed = min(end.timestamp(), now // step * step) - step
    missing = []
    for pair in pairs:
        coverage = read_coverage(candle_file(directory, pair, timeframe))
        if (
            coverage is None
            or coverage.first is None
            or coverage.last is None
            or coverage.first.timestamp() > start.timestamp()
            or coverage.last.timestamp() < last_needed
        ):
            missing.append(pair)
    return missing


@asynccontextmanager
async def data_lock(directory: Path, *, exclusive: bool) -> AsyncIterator[None]:
    """A readers-writer lock on one exchange's candles, across processes: downloads write
    (exclusive), backtests read (shared). flock is released when the file closes, so a killed
    worker never leaves it held."""
    await asyncio.to_thread(ensure_dir, directory)
    handle = await asyncio.to_thread(open, directory / ".lock", "a")
    mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
    try:
        while True:
            try:
                fcntl.flock(handle.fileno(), mode | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                await asyncio.sleep(0.2)
        yield
    finally:
        handle.close()


def ensure_dir(path: Path) -> Path:
    os.makedirs(path, exist_ok=True)
    return path

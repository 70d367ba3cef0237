"""Freqtrade OHLCV files for replay tests, written the way freqtrade's data handlers write them."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
from pyarrow import feather, parquet

from tests.simulator.conftest import DAY_MS, NOW_MS

FIVE_MINUTES = 300_000
# Two days of 5m candles ending two days before "now".
FILE_START = (NOW_MS - 4 * DAY_MS) // DAY_MS * DAY_MS
COUNT = 576


def sample_candles(count: int = COUNT, start: int = FILE_START) -> list[list[float]]:
    """A continuous random walk with BTC-like prices (two decimals) and volumes (five)."""
    rng = np.random.default_rng(3)
    closes = np.round(60_000 * np.exp(np.cumsum(rng.normal(0, 0.002, count))), 2)
    opens = np.concatenate(([60_000.0], closes[:-1]))
    highs = np.maximum(opens, closes) + np.round(rng.uniform(0, 30, count), 2)
    lows = np.minimum(opens, closes) - np.round(rng.uniform(0, 30, count), 2)
    volumes = np.round(rng.uniform(1, 50, count), 5)
    times = start + FIVE_MINUTES * np.arange(count)
    return [
        [int(t), float(o), float(h), float(lo), float(c), float(v)]
        for t, o, h, lo, c, v in zip(times, opens, highs, lows, closes, volumes, strict=True)
    ]


def write_ohlcv(path: Path, rows: list[list[float]]) -> Path:
    """Write rows the way freqtrade's data handlers do for the file's extension."""
    if path.name.endswith(".json"):
        path.write_text(json.dumps(rows))
    elif path.name.endswith(".json.gz"):
        with gzip.open(path, "wt") as file:
            json.dump(rows, file)
    else:
        columns = list(zip(*rows, strict=True))
        table = pa.table(
            {
                "date": pa.array(columns[0], type=pa.timestamp("ms", tz="UTC")),
                **{
                    name: pa.array(values, type=pa.float64())
                    for name, values in zip(
                        ("open", "high", "low", "close", "volume"), columns[1:], strict=True
                    )
                },
            }
        )
        if path.name.endswith(".feather"):
            feather.write_feather(table, path, compression="lz4", compression_level=9)
        else:
            parquet.write_table(table, path)
    return path

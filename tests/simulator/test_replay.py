"""Replaying freqtrade OHLCV files: every format freqtrade writes, at the file's own timestamps,
mirror-looped outside them, and aggregated like the random model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core_server.simulator import Market, ReplayError, SimulatorConfig
from core_server.simulator.candles import TIMEFRAMES
from core_server.simulator.market import UnsupportedInterval
from core_server.simulator.replay import load_ohlcv_file, load_replay_dir
from tests.simulator.conftest import DAY_MS, NOW_MS
from tests.simulator.ohlcv import COUNT, FILE_START, FIVE_MINUTES, sample_candles, write_ohlcv


def replay_market(directory: Path, pairs: tuple[str, ...] = ("ETH/USDT",)) -> Market:
    return Market.from_config(SimulatorConfig(pairs=pairs, replay_dir=directory))


@pytest.mark.parametrize("extension", ["json", "json.gz", "feather", "parquet"])
def test_a_replayed_pair_serves_the_files_candles_at_their_own_times(
    tmp_path: Path, extension: str
) -> None:
    rows = sample_candles()
    write_ohlcv(tmp_path / f"BTC_USDT-5m.{extension}", rows)
    market = replay_market(tmp_path)

    listing = market.listing("BTCUSDT")
    assert (listing.mode, listing.replay_file) == ("replay", f"BTC_USDT-5m.{extension}")
    assert market.listing("ETHUSDT").mode == "random"
    assert (listing.spec.price_decimals, listing.spec.quantity_decimals) == (2, 5)
    candles = market.klines(
        "BTCUSDT", TIMEFRAMES["5m"], start_ms=FILE_START, end_ms=None, limit=1000, now_ms=NOW_MS
    )
    expected = np.array(rows)
    assert len(candles) >= COUNT
    np.testing.assert_array_equal(candles.open_time[:COUNT], expected[:, 0])
    for column, name in enumerate(("open", "high", "low", "close", "volume"), start=1):
        np.testing.assert_array_equal(getattr(candles, name)[:COUNT], expected[:, column])


def test_replayed_candles_aggregate_to_longer_timeframes(tmp_path: Path) -> None:
    rows = np.array(sample_candles())
    write_ohlcv(tmp_path / "BTC_USDT-5m.json", rows.tolist())
    hours = replay_market(tmp_path).klines(
        "BTCUSDT", TIMEFRAMES["1h"], start_ms=FILE_START, end_ms=None, limit=48, now_ms=NOW_MS
    )
    grouped = rows.reshape(48, 12, 6)
    np.testing.assert_array_equal(hours.open, grouped[:, 0, 1])
    np.testing.assert_array_equal(hours.high, grouped[:, :, 2].max(axis=1))
    np.testing.assert_array_equal(hours.low, grouped[:, :, 3].min(axis=1))
    np.testing.assert_array_equal(hours.close, grouped[:, -1, 4])
    np.testing.assert_allclose(hours.volume, grouped[:, :, 5].sum(axis=1), rtol=1e-12)


def test_outside_the_file_the_data_repeats_mirror_wise_without_jumps(tmp_path: Path) -> None:
    rows = np.array(sample_candles())
    write_ohlcv(tmp_path / "BTC_USDT-5m.json", rows.tolist())
    market = replay_market(tmp_path)
    file_end = FILE_START + COUNT * FIVE_MINUTES

    after = market.klines(
        "BTCUSDT", TIMEFRAMES["5m"], start_ms=file_end, end_ms=None, limit=3, now_ms=NOW_MS
    )
    # The last candle again, played backwards, then the one before it.
    np.testing.assert_array_equal(after.open[:2], rows[[-1, -2], 4])
    np.testing.assert_array_equal(after.close[:2], rows[[-1, -2], 1])
    np.testing.assert_array_equal(after.high[:2], rows[[-1, -2], 2])

    # "Now" (two days after the file ends) is served too, and the series never jumps.
    around = market.klines(
        "BTCUSDT",
        TIMEFRAMES["5m"],
        start_ms=FILE_START - DAY_MS,
        end_ms=None,
        limit=1000,
        now_ms=NOW_MS,
    )
    more = market.klines(
        "BTCUSDT",
        TIMEFRAMES["5m"],
        start_ms=int(around.open_time[-1]) + 1,
        end_ms=None,
        limit=1000,
        now_ms=NOW_MS,
    )
    series_open = np.concatenate((around.open, more.open))
    series_close = np.concatenate((around.close, more.close))
    np.testing.assert_array_equal(series_open[1:], series_close[:-1])
    assert more.open_time[-1] <= NOW_MS < more.close_time[-1]
    assert market.price("BTCUSDT", NOW_MS) == more.close[-1]


def test_missing_candles_are_filled_flat_at_the_last_close(tmp_path: Path) -> None:
    rows = sample_candles(count=20)
    del rows[5:8]
    write_ohlcv(tmp_path / "BTC_USDT-5m.json", rows)
    candles = replay_market(tmp_path).klines(
        "BTCUSDT", TIMEFRAMES["5m"], start_ms=FILE_START, end_ms=None, limit=20, now_ms=NOW_MS
    )
    assert np.all(np.diff(candles.open_time) == FIVE_MINUTES)
    gap = slice(5, 8)
    assert np.all(candles.volume[gap] == 0)
    for name in ("open", "high", "low", "close"):
        assert np.all(getattr(candles, name)[gap] == rows[4][4])


def test_a_replayed_pair_cannot_serve_timeframes_shorter_than_its_file(tmp_path: Path) -> None:
    rows = sample_candles(count=48, start=FILE_START)
    write_ohlcv(tmp_path / "BTC_USDT-5m.json", rows)
    market = replay_market(tmp_path)
    with pytest.raises(UnsupportedInterval, match="5m"):
        market.klines(
            "BTCUSDT", TIMEFRAMES["1m"], start_ms=None, end_ms=None, limit=5, now_ms=NOW_MS
        )


def test_the_directory_scan_takes_the_shortest_timeframe_and_skips_other_files(
    tmp_path: Path,
) -> None:
    hourly = [[FILE_START + i * 3_600_000, 1.0, 2.0, 0.5, 1.5, 10.0] for i in range(10)]
    write_ohlcv(tmp_path / "BTC_USDT-1h.json", hourly)
    write_ohlcv(tmp_path / "BTC_USDT-5m.feather", sample_candles(count=30))
    write_ohlcv(tmp_path / "BTC_USDT_USDT-5m-futures.feather", sample_candles(count=30))
    (tmp_path / "BTC_USDT-trades.feather").write_bytes(b"not candles")
    (tmp_path / "notes.txt").write_text("hello")

    replays = load_replay_dir(tmp_path)
    assert [(r.symbol, r.base.name, r.path.name) for r in replays] == [
        ("BTC/USDT", "5m", "BTC_USDT-5m.feather")
    ]


def test_unreadable_replays_fail_with_the_file_named(tmp_path: Path) -> None:
    with pytest.raises(ReplayError, match="does not exist"):
        load_replay_dir(tmp_path / "missing")
    (tmp_path / "BTC_USDT-5m.json").write_text("{not json")
    with pytest.raises(ReplayError, match="BTC_USDT-5m.json"):
        load_replay_dir(tmp_path)
    (tmp_path / "BTC_USDT-5m.json").write_text("[]")
    with pytest.raises(ReplayError, match="no candles"):
        load_replay_dir(tmp_path)
    write_ohlcv(tmp_path / "BTC_USDT-5m.json", [[FILE_START + 1, 1, 1, 1, 1, 1]])
    with pytest.raises(ReplayError, match="grid"):
        load_replay_dir(tmp_path)


def test_unsorted_and_duplicated_rows_are_sorted_and_deduplicated(tmp_path: Path) -> None:
    rows = sample_candles(count=6)
    path = write_ohlcv(tmp_path / "ETH_BTC-5m.json", [rows[3], rows[0], rows[3], *rows[1:3]])
    data = load_ohlcv_file(path)
    np.testing.assert_array_equal(data.open_time, [r[0] for r in rows[:4]])

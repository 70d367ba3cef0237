"""The random price model: deterministic, random access in time, consistent across timeframes,
with regimes, realistic volatility and volume, and a live price."""

from __future__ import annotations

import time
from dataclasses import fields

import numpy as np
import pytest

from core_server.simulator import Market, SimulatorConfig
from core_server.simulator.candles import TIMEFRAMES, Candles, Timeframe
from core_server.simulator.market import Regime
from tests.simulator.conftest import DAY_MS, NOW_MS

TF = TIMEFRAMES
HOUR_MS = 3_600_000


def fetch(
    market: Market,
    timeframe: str,
    *,
    symbol: str = "BTCUSDT",
    start: int | None = None,
    end: int | None = None,
    limit: int = 1000,
    now: int = NOW_MS,
) -> Candles:
    return market.klines(symbol, TF[timeframe], start_ms=start, end_ms=end, limit=limit, now_ms=now)


def assert_same_candles(a: Candles, b: Candles) -> None:
    assert len(a) == len(b)
    for column in fields(Candles):
        np.testing.assert_array_equal(getattr(a, column.name), getattr(b, column.name))


def test_the_same_seed_gives_the_same_candles_and_another_seed_others() -> None:
    start = NOW_MS - 30 * DAY_MS
    first = fetch(Market.from_config(SimulatorConfig(seed=7)), "15m", start=start)
    again = fetch(Market.from_config(SimulatorConfig(seed=7)), "15m", start=start)
    other = fetch(Market.from_config(SimulatorConfig(seed=8)), "15m", start=start)

    assert_same_candles(first, again)
    assert len(other) == len(first)
    assert not np.array_equal(other.close, first.close)


def test_candles_fetched_in_pages_equal_one_big_fetch(market: Market) -> None:
    start = NOW_MS - 3 * DAY_MS
    whole = fetch(market, "5m", start=start, limit=1000)
    # The first candle opening at or after the start, up to the one in progress.
    assert len(whole) == 3 * 288
    assert whole.open_time[0] >= start > whole.open_time[0] - 300_000

    fresh = Market.from_config(market.config)  # no cache shared with the big fetch
    pages, since = [], start
    while page := fetch(fresh, "5m", start=since, limit=137):
        pages.append(page)
        since = int(page.open_time[-1]) + 1
    assert_same_candles(Candles.concat(pages), whole)

    # Paging backwards with endTime, as a chart scrolling into the past does.
    pages, until = [], NOW_MS
    while len(page := fetch(fresh, "5m", end=until, limit=200)) and page.open_time[0] >= start:
        pages.insert(0, page)
        until = int(page.open_time[0]) - 1
    backwards = Candles.concat(pages)
    assert_same_candles(backwards, fetch(market, "5m", start=int(backwards.open_time[0])))


def test_distant_history_is_computed_without_the_time_before_it(market: Market) -> None:
    old = fetch(market, "1h", start=NOW_MS - 900 * DAY_MS, limit=24)
    recent_first = Market.from_config(market.config)
    fetch(recent_first, "1h", limit=10)
    assert_same_candles(fetch(recent_first, "1h", start=NOW_MS - 900 * DAY_MS, limit=24), old)


@pytest.mark.parametrize(
    ("long", "short", "start"),
    [
        ("1h", "5m", NOW_MS - 2 * DAY_MS),
        ("15m", "3m", NOW_MS - DAY_MS),
        ("4h", "1h", NOW_MS - 10 * DAY_MS),
        ("1d", "1h", NOW_MS - 20 * DAY_MS),
        ("3d", "1d", NOW_MS - 60 * DAY_MS),
        ("1w", "1d", NOW_MS - 70 * DAY_MS),
        ("1M", "1d", NOW_MS - 200 * DAY_MS),
    ],
)
def test_a_long_candle_agrees_with_its_short_candles(
    market: Market, long: str, short: str, start: int
) -> None:
    """Including the candle in progress: both are cut at the same "now"."""
    big = fetch(market, long, start=start)
    small = fetch(market, short, start=int(big.open_time[0]))
    group = np.searchsorted(big.open_time, small.open_time, side="right") - 1
    assert np.all(small.open_time[group == 0] >= big.open_time[0])
    for i in range(len(big)):
        part = group == i
        assert part.any()
        assert small.open_time[part][0] == big.open_time[i]
        assert small.close_time[part][-1] <= big.close_time[i]
        assert small.open[part][0] == big.open[i]
        assert small.close[part][-1] == big.close[i]
        assert small.high[part].max() == big.high[i]
        assert small.low[part].min() == big.low[i]
        assert round(small.volume[part].sum(), 5) == big.volume[i]
        assert small.trades[part].sum() == big.trades[i]


def test_weekly_and_monthly_candles_open_where_binance_opens_them(market: Market) -> None:
    weeks = fetch(market, "1w", limit=10)
    months = fetch(market, "1M", limit=10)
    days = (weeks.open_time // DAY_MS).astype("datetime64[D]")
    assert all(day.item().weekday() == 0 for day in days)
    opens = months.open_time.astype("datetime64[ms]").astype(object)
    assert all(o.day == 1 and o.hour == 0 for o in opens)
    assert np.all(months.close_time[:-1] + 1 == months.open_time[1:])


@pytest.mark.parametrize("symbol", ["BTCUSDT", "XRPUSDT", "DOGEUSDT", "ETHBTC", "BNBBTC"])
@pytest.mark.parametrize("timeframe", ["1m", "5m", "1h", "1d"])
def test_candles_keep_ohlc_invariants(market: Market, symbol: str, timeframe: str) -> None:
    candles = fetch(market, timeframe, symbol=symbol, limit=1000)
    complete = candles.close_time < NOW_MS
    assert np.all(candles.low <= np.minimum(candles.open, candles.close))
    assert np.all(candles.high >= np.maximum(candles.open, candles.close))
    assert np.all(candles.low > 0)
    assert np.all(candles.volume[complete] > 0)
    assert np.all(candles.taker_base_volume <= candles.volume)
    # No gaps: each candle opens where the one before closed, one interval later.
    np.testing.assert_array_equal(candles.open[1:], candles.close[:-1])
    assert np.all(candles.close_time[:-1] + 1 == candles.open_time[1:])
    # Prices are on the pair's tick.
    decimals = market.listing(symbol).spec.price_decimals
    np.testing.assert_array_equal(np.round(candles.close, decimals), candles.close)


def test_regimes_trend_up_and_down_over_a_year(market: Market) -> None:
    start, end = NOW_MS - 365 * DAY_MS, NOW_MS - DAY_MS
    spans = market.regimes("BTCUSDT", start, end)
    assert {span.regime for span in spans} == set(Regime)
    returns: dict[Regime, list[float]] = {regime: [] for regime in Regime}
    volatility: dict[Regime, list[float]] = {regime: [] for regime in Regime}
    for span in spans:
        if span.start_ms < start or span.end_ms > end:
            continue
        hours = fetch(market, "1h", start=span.start_ms, end=span.end_ms - 1)
        returns[span.regime].append(float(np.log(hours.close[-1] / hours.open[0])))
        volatility[span.regime].append(float(np.std(np.log(hours.close / hours.open))))
    assert np.mean(returns[Regime.trending_up]) > 0.01
    assert np.mean(returns[Regime.trending_down]) < -0.01
    assert np.mean(np.array(returns[Regime.trending_up]) > 0) > 0.7
    assert np.mean(np.array(returns[Regime.trending_down]) < 0) > 0.7
    assert np.mean(volatility[Regime.volatile]) > 2 * np.mean(volatility[Regime.ranging])


def test_regimes_change_over_time(market: Market) -> None:
    spans = market.regimes("ETHUSDT", NOW_MS - 30 * DAY_MS, NOW_MS)
    assert len(spans) >= 5
    assert all(b.start_ms == a.end_ms for a, b in zip(spans, spans[1:], strict=False))
    assert all(6 * HOUR_MS <= s.end_ms - s.start_ms <= 240 * HOUR_MS for s in spans[:-1])


@pytest.mark.parametrize(("symbol", "annual"), [("BTCUSDT", 0.55), ("DOGEUSDT", 1.0)])
def test_volatility_is_realistic_and_prices_stay_in_a_band(
    market: Market, symbol: str, annual: float
) -> None:
    days = fetch(market, "1d", symbol=symbol, start=0)
    assert days.open_time[0] == market.config.history_start_ms
    realised = float(np.std(np.diff(np.log(days.close))) * np.sqrt(365))
    assert 0.6 * annual < realised < 1.8 * annual
    base = market.listing(symbol).spec.base_price
    assert base / 5 < days.low.min() and days.high.max() < base * 5


def test_volume_rises_with_volatility(market: Market) -> None:
    hours = fetch(market, "1h", start=NOW_MS - 60 * DAY_MS, end=NOW_MS - HOUR_MS)
    span = np.log(hours.high / hours.low)
    assert np.corrcoef(span, hours.volume)[0, 1] > 0.4


def test_history_starts_at_the_listing_and_stops_at_now(market: Market) -> None:
    first = fetch(market, "5m", start=0, limit=3)
    assert first.open_time[0] == market.config.history_start_ms
    assert len(fetch(market, "5m", end=market.config.history_start_ms - 1)) == 0
    latest = fetch(market, "5m", limit=2)
    assert latest.open_time[-1] <= NOW_MS < latest.close_time[-1]
    assert len(fetch(market, "5m", start=NOW_MS + 1)) == 0
    # Only an end: the `limit` candles up to it, like Binance.
    window = fetch(market, "1h", end=NOW_MS - DAY_MS, limit=5)
    assert len(window) == 5 and window.open_time[-1] <= NOW_MS - DAY_MS < window.close_time[-1]


def test_the_price_moves_while_a_bot_watches(market: Market) -> None:
    minute_open = NOW_MS - NOW_MS % 60_000
    seconds = [minute_open + 500 + 4_500 * i for i in range(13)]
    prices = [market.price("BTCUSDT", t) for t in seconds]
    assert len(set(prices)) > 6
    # The live candle grows into the finished one: same open, extremes only widen.
    finished = fetch(market, "1m", start=minute_open, limit=1, now=minute_open + 60_000)
    for t in seconds:
        live = fetch(market, "1m", limit=1, now=t)
        assert live.open_time[0] == finished.open_time[0]
        assert live.open[0] == finished.open[0]
        assert live.close[0] == market.price("BTCUSDT", t)
        assert finished.low[0] <= live.low[0] <= live.high[0] <= finished.high[0]
        assert live.volume[0] <= finished.volume[0]


def test_ticker_and_order_book_agree_with_the_latest_candle(market: Market) -> None:
    minutes = fetch(market, "1m", start=NOW_MS - DAY_MS, limit=2000)
    assert len(minutes) == 1440
    ticker = market.ticker("BTCUSDT", NOW_MS)
    assert ticker.last == minutes.close[-1] == market.price("BTCUSDT", NOW_MS)
    assert ticker.open == minutes.open[0]
    assert ticker.high == minutes.high.max() and ticker.low == minutes.low.min()
    assert ticker.volume == pytest.approx(minutes.volume.sum())

    book = market.book("BTCUSDT", 20, NOW_MS)
    bids, asks = np.array(book.bids), np.array(book.asks)
    assert len(bids) == len(asks) == 20
    assert bids[0, 0] < ticker.last < asks[0, 0]
    assert (asks[0, 0] - bids[0, 0]) / ticker.last < 0.0005
    assert np.all(np.diff(bids[:, 0]) < 0) and np.all(np.diff(asks[:, 0]) > 0)
    assert np.all(bids[:, 1] > 0) and np.all(asks[:, 1] > 0)
    assert (ticker.bid, ticker.ask) == (bids[0, 0], asks[0, 0])


def test_unknown_pairs_get_a_plausible_generic_listing() -> None:
    market = Market.from_config(SimulatorConfig(pairs=("PEPE/USDT", "ABC/ETH")))
    for symbol in ("PEPEUSDT", "ABCETH"):
        candles = fetch(market, "1h", symbol=symbol, limit=48)
        assert len(candles) == 48 and np.all(candles.volume[:-1] > 0)


def test_1000_five_minute_candles_take_well_under_50_ms(market: Market) -> None:
    fetch(market, "5m", symbol="SOLUSDT")  # the hourly skeleton is built once per pair
    timings = []
    for offset in range(5):
        started = time.perf_counter()
        candles = fetch(market, "5m", symbol="SOLUSDT", end=NOW_MS - offset * 7 * DAY_MS)
        timings.append(time.perf_counter() - started)
        assert len(candles) == 1000
    assert min(timings) < 0.025, timings


def test_timeframe_arithmetic_matches_ccxt_rounding() -> None:
    week: Timeframe = TF["1w"]
    monday = 1_764_547_200_000  # 2025-12-01 00:00 UTC, a Monday
    assert week.open_at(week.index_at(monday + 3 * DAY_MS)) == monday
    month = TF["1M"]
    feb = 1_738_368_000_000  # 2025-02-01
    assert month.open_at(month.index_at(feb + 27 * DAY_MS)) == feb
    assert month.open_at(month.index_at(feb) + 1) == feb + 28 * DAY_MS

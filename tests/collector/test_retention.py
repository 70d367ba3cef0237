"""Equity snapshots thin out with age: every one for a day, hourly closes after that, daily closes
after a month, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from fastapi import FastAPI
from sqlalchemy import select

from core_server.collector.models import EquitySnapshot
from core_server.collector.retention import SnapshotRetention
from tests.analytics.factory import AnalyticsFactory

NOW = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def _snapshot(bot_id: int, owner_id: int, taken_at: datetime, equity: float) -> EquitySnapshot:
    return EquitySnapshot(
        bot_id=bot_id,
        owner_id=owner_id,
        taken_at=taken_at,
        stake_currency="USDT",
        equity=Decimal(str(equity)),
        free=Decimal(0),
        profit_closed=Decimal(0),
        profit_open=Decimal(0),
        open_trades=0,
    )


async def _kept(app: FastAPI, bot_id: int) -> list[tuple[datetime, float]]:
    async with app.state.database.transaction() as session:
        rows = await session.execute(
            select(EquitySnapshot.taken_at, EquitySnapshot.equity)
            .where(EquitySnapshot.bot_id == bot_id)
            .order_by(EquitySnapshot.taken_at)
        )
        return [(taken_at, float(equity)) for taken_at, equity in rows.all()]


async def test_old_snapshots_keep_one_close_per_hour_then_per_day(app: FastAPI) -> None:
    rows = AnalyticsFactory(app)
    owner = await rows.owner()
    bot = await rows.bot(owner)
    other = await rows.bot(owner)
    minute = timedelta(minutes=1)
    # Written in time order, one a minute, as the collector does: the last two hours of the
    # day before yesterday (past the hourly tier's age) ...
    hourly_start = NOW - timedelta(days=2)
    recent_start = NOW - timedelta(hours=2)
    monthly_start = datetime(2024, 1, 20, tzinfo=UTC)  # whole days, forty days back
    async with app.state.database.transaction() as session:
        for day in range(3):  # ... three days forty days ago, every 10 minutes ...
            for step in range(144):
                taken = monthly_start + timedelta(days=day) + step * 10 * minute
                session.add(_snapshot(bot.id, owner, taken, 1000 + day * 1000 + step))
        for step in range(120):
            session.add(_snapshot(bot.id, owner, hourly_start + step * minute, 5000 + step))
            session.add(_snapshot(other.id, owner, hourly_start + step * minute, 9000 + step))
        for step in range(120):  # ... and the last two hours, untouched.
            session.add(_snapshot(bot.id, owner, recent_start + step * minute, 7000 + step))

    removed = await SnapshotRetention(app.state.database).thin(NOW)

    kept = await _kept(app, bot.id)
    monthly = [(t, e) for t, e in kept if t < NOW - timedelta(days=30)]
    hourly = [(t, e) for t, e in kept if NOW - timedelta(days=30) <= t < NOW - timedelta(days=1)]
    recent = [(t, e) for t, e in kept if t >= NOW - timedelta(days=1)]
    # The close of each day: the 144th snapshot of it.
    assert [e for _, e in monthly] == [1143, 2143, 3143]
    # The close of each of the two hours.
    assert [e for _, e in hourly] == [5059, 5119]
    assert [t for t, _ in hourly] == [hourly_start + 59 * minute, hourly_start + 119 * minute]
    assert len(recent) == 120
    # Each bot keeps its own closes.
    assert [e for _, e in await _kept(app, other.id)] == [9059, 9119]
    assert removed == (3 * 144 - 3) + (120 - 2) + (120 - 2)


async def test_a_second_pass_only_thins_what_aged_since(app: FastAPI) -> None:
    rows = AnalyticsFactory(app)
    owner = await rows.owner()
    bot = await rows.bot(owner)
    retention = SnapshotRetention(app.state.database)
    start = NOW - timedelta(days=1, hours=2)
    async with app.state.database.transaction() as session:
        for step in range(240):  # four hours, one a minute, the last two still young
            session.add(_snapshot(bot.id, owner, start + timedelta(minutes=step), step))
    await retention.thin(NOW)
    assert len(await _kept(app, bot.id)) == 2 + 120

    # Two hours later the rest has aged: one pass thins it, and thinning again changes nothing.
    later = NOW + timedelta(hours=2)
    await retention.thin(later)
    assert [e for _, e in await _kept(app, bot.id)] == [59, 119, 179, 239]
    assert await retention.thin(later) == 0

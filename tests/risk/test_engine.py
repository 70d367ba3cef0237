"""The risk engine against a real database and live-state cache: each rule kind fires once per
crossing, leaves an alert, an `alert` event and an audit row, acts on the right bots, and
re-arms when the measure recovers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

from fastapi import FastAPI
from sqlalchemy import event, select

from core_server.activity.models import Event
from core_server.audit.models import AuditEntry
from core_server.auth.models import Role
from core_server.auth.principal import Principal
from core_server.bots.models import Bot, BotStatus
from core_server.collector.cache import LiveStateCache
from core_server.core.database import Database, utcnow
from core_server.risk import service
from core_server.risk.engine import RiskEngine
from core_server.risk.models import Alert, RiskRule
from core_server.risk.schemas import RiskRuleCreate
from tests.conftest import free_port
from tests.risk.factories import (
    add_bot,
    add_rule,
    add_snapshot,
    add_trade,
    add_user,
    live_state,
)


def make_engine(app: FastAPI, **options: Any) -> RiskEngine:
    options.setdefault("fleet_every", 0)
    options.setdefault("rules_ttl", 0)
    return RiskEngine(
        app.state.database, app.state.bot_manager, app.state.bus, LiveStateCache(), **options
    )


async def sync(engine: RiskEngine, bot: Bot) -> None:
    """What the collector does after a sync of `bot`, then wait for the engine's actions."""
    await engine.after_sync(bot)
    await engine.settle()


async def alerts(database: Database, owner_id: int) -> list[Alert]:
    async with database.transaction() as session:
        stmt = select(Alert).where(Alert.owner_id == owner_id).order_by(Alert.id)
        return list((await session.execute(stmt)).scalars())


async def events(database: Database, owner_id: int) -> list[Event]:
    async with database.transaction() as session:
        stmt = select(Event).where(Event.owner_id == owner_id, Event.type == "alert")
        return list((await session.execute(stmt.order_by(Event.id))).scalars())


async def rule_row(database: Database, rule_id: int) -> RiskRule:
    async with database.transaction() as session:
        rule = await session.get(RiskRule, rule_id)
        assert rule is not None
        return rule


async def eventually(check: Callable[[], Awaitable[Any]], seconds: float = 10) -> Any:
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        result = await check()
        if result or asyncio.get_running_loop().time() > deadline:
            return result
        await asyncio.sleep(0.1)


async def test_daily_loss_fires_once_records_everything_and_rearms(parts: FastAPI) -> None:
    database: Database = parts.state.database
    engine = make_engine(parts)
    owner = await add_user(database)
    # Running, but nothing answers on its port: the action fails, and the alert says so.
    bot = await add_bot(database, owner, status=BotStatus.running, api_port=free_port())
    rule = await add_rule(
        database, owner, bot_id=bot.id, kind="bot_daily_loss", threshold=10, action="stop_entries"
    )
    now = utcnow()
    await add_trade(database, bot, profit=-6, closed_at=now)
    # Yesterday's loss is not today's.
    await add_trade(database, bot, profit=-500, closed_at=now - timedelta(days=1, hours=1))

    # 6 realised + 3 unrealised; the open winner does not offset the loss.
    await engine.cache.put(live_state(bot, open_profits=(-3, 40), closed_trades=2))
    await sync(engine, bot)
    assert await alerts(database, owner) == []

    await engine.cache.put(live_state(bot, open_profits=(-4.5, 40), closed_trades=2))
    await sync(engine, bot)
    await sync(engine, bot)  # still over the limit: no second alert
    [alert] = await alerts(database, owner)
    assert alert.rule_id == rule.id and alert.bot_id == bot.id
    assert alert.severity == "critical" and alert.kind == "bot_daily_loss"
    assert "today's loss 10.50 USDT reached the 10 USDT limit" in alert.message
    assert alert.details["realised_today"] == -6 and alert.details["unrealised_loss"] == -4.5
    [action] = alert.details["actions"]
    assert action["bot_id"] == bot.id and action["ok"] is False and action["error"]
    assert "failed on 1" in alert.message
    [feed] = await events(database, owner)
    assert feed.bot_id == bot.id and feed.payload["alert_id"] == alert.id
    assert feed.payload["failed"] == [bot.id] and feed.summary == alert.message
    async with database.transaction() as session:
        [audit] = (
            (await session.execute(select(AuditEntry).where(AuditEntry.action == "risk.trigger")))
            .scalars()
            .all()
        )
    assert audit.actor_name == "system" and audit.actor_id is None
    assert audit.resource_id == str(rule.id) and audit.details["alert_id"] == alert.id
    stored = await rule_row(database, rule.id)
    assert stored.triggered_at is not None and stored.triggered_bot_ids == [bot.id]

    # Back under 90 % of the limit (6 realised, 2.5 open): re-armed.
    await engine.cache.put(live_state(bot, open_profits=(-2.5,), closed_trades=2))
    await sync(engine, bot)
    stored = await rule_row(database, rule.id)
    assert stored.triggered_at is None and stored.triggered_bot_ids == []

    await engine.cache.put(live_state(bot, open_profits=(-5,), closed_trades=2))
    await sync(engine, bot)
    assert len(await alerts(database, owner)) == 2
    assert len(await events(database, owner)) == 2


async def test_a_rule_for_each_bot_fires_once_per_bot(parts: FastAPI) -> None:
    database: Database = parts.state.database
    engine = make_engine(parts)
    owner = await add_user(database)
    first, second = [await add_bot(database, owner) for _ in range(2)]
    rule = await add_rule(database, owner, kind="bot_daily_loss", threshold=20, action="alert")

    await engine.cache.put(live_state(first, open_profits=(-25,)))
    await engine.cache.put(live_state(second, open_profits=(-5,)))
    for bot in (first, second, first, second):
        await sync(engine, bot)
    [alert] = await alerts(database, owner)
    assert alert.bot_id == first.id and alert.severity == "warning"
    assert alert.details["actions"] == [] and alert.message.endswith("USDT limit.")

    await engine.cache.put(live_state(second, open_profits=(-30,)))
    await sync(engine, second)
    assert [a.bot_id for a in await alerts(database, owner)] == [first.id, second.id]
    assert (await rule_row(database, rule.id)).triggered_bot_ids == [first.id, second.id]

    await engine.cache.put(live_state(first))
    await sync(engine, first)
    stored = await rule_row(database, rule.id)
    assert stored.triggered_bot_ids == [second.id] and stored.triggered_at is not None


async def test_fleet_drawdown_stops_the_bots_and_rearms(parts: FastAPI) -> None:
    database: Database = parts.state.database
    engine = make_engine(parts)
    owner = await add_user(database)
    running = [await add_bot(database, owner, status=BotStatus.running) for _ in range(2)]
    # Stopped long ago: it still holds its capital, known from its last snapshot.
    parked = await add_bot(database, owner)
    await add_snapshot(database, parked, 1000)
    leaving = await add_bot(database, owner)
    await add_snapshot(database, leaving, 500)
    other_owner = await add_user(database)
    stranger_bot = await add_bot(database, other_owner, status=BotStatus.running)
    rule = await add_rule(
        database, owner, kind="fleet_max_drawdown", threshold=Decimal("0.2"), action="stop_bots"
    )

    for bot in running:
        await engine.cache.put(live_state(bot, equity=1000))
    await sync(engine, running[0])
    assert (await rule_row(database, rule.id)).peak_equity == Decimal(3500)

    # Deleting a bot takes its capital out of the fleet: that is not a drawdown.
    async with database.transaction() as session:
        await session.delete(await session.get(Bot, leaving.id))
    await engine.cache.put(live_state(running[0], equity=900))
    await sync(engine, running[0])
    assert await alerts(database, owner) == []
    assert (await rule_row(database, rule.id)).peak_equity == Decimal(3000)

    # 3000 -> 2350: 21.7 % down.
    await engine.cache.put(live_state(running[0], equity=800))
    await engine.cache.put(live_state(running[1], equity=550))
    await sync(engine, running[1])
    await sync(engine, running[0])
    [alert] = await alerts(database, owner)
    assert alert.severity == "critical" and alert.kind == "fleet_max_drawdown"
    assert alert.bot_id is None and "Fleet drawdown 21.7% reached the 20.0% limit" in alert.message
    assert alert.details["peak_equity"] == 3000 and alert.details["equity"] == 2350
    acted = {a["bot_id"]: a for a in alert.details["actions"]}
    assert set(acted) == {b.id for b in running} and all(a["ok"] for a in acted.values())

    async def stopped() -> bool:
        async with database.transaction() as session:
            statuses = [(await session.get(Bot, b.id)).status for b in running]  # type: ignore[union-attr]
        return statuses == [BotStatus.stopped, BotStatus.stopped]

    assert await eventually(stopped)
    async with database.transaction() as session:
        assert (await session.get(Bot, stranger_bot.id)).status == BotStatus.running  # type: ignore[union-attr]
        stops = (
            (await session.execute(select(AuditEntry).where(AuditEntry.action == "bot.stop")))
            .scalars()
            .all()
        )
    assert sorted(int(s.resource_id or 0) for s in stops) == sorted(b.id for b in running)

    # Recovered to within 90 % of the limit of the peak: re-armed, the peak kept.
    await engine.cache.put(live_state(running[0], equity=1000))
    await engine.cache.put(live_state(running[1], equity=700))
    await sync(engine, running[0])
    stored = await rule_row(database, rule.id)
    assert stored.triggered_at is None and stored.peak_equity == Decimal(3000)
    assert len(await alerts(database, owner)) == 1


async def test_asset_exposure_counts_open_stake_across_bots(parts: FastAPI) -> None:
    database: Database = parts.state.database
    engine = make_engine(parts)
    owner = await add_user(database)
    first, second = [await add_bot(database, owner) for _ in range(2)]
    stranger = await add_user(database)
    stranger_bot = await add_bot(database, stranger)
    rule = await add_rule(
        database, owner, kind="asset_max_exposure", asset="BTC", threshold=60, action="alert"
    )
    await add_trade(database, first, pair="BTC/USDT", stake=30)
    await add_trade(database, first, pair="ETH/USDT", stake=500)
    await add_trade(database, stranger_bot, pair="BTC/USDT", stake=500)
    await add_trade(database, second, pair="BTC/USDT", stake=20, closed_at=utcnow())
    await engine.cache.put(live_state(first))
    await sync(engine, first)
    assert await alerts(database, owner) == []

    late = await add_trade(database, second, pair="BTC/USDT", stake=40)
    await sync(engine, first)
    await sync(engine, second)
    [alert] = await alerts(database, owner)
    assert alert.message == "Open stake in BTC is 70.00 USDT, over the 60 USDT limit."
    assert alert.details["by_bot"] == {str(first.id): 30.0, str(second.id): 40.0}
    assert await alerts(database, stranger) == []

    async with database.transaction() as session:
        trade = await session.get(type(late), late.id)
        assert trade is not None
        trade.is_open, trade.close_date = False, utcnow()
    await sync(engine, first)
    assert (await rule_row(database, rule.id)).triggered_at is None


async def test_owners_without_rules_cost_no_queries(parts: FastAPI) -> None:
    database: Database = parts.state.database
    engine = make_engine(parts, fleet_every=60, rules_ttl=60)
    owner = await add_user(database)
    bots = [await add_bot(database, owner) for _ in range(3)]
    for bot in bots:
        await engine.cache.put(live_state(bot, open_profits=(-50,)))
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    event.listen(database.engine.sync_engine, "before_cursor_execute", count)
    try:
        for _ in range(20):
            for bot in bots:
                await sync(engine, bot)
        assert len(statements) <= 1, statements  # the one look-up of who has rules

        # A rule made through the service reaches the engine at once, not after the cache time.
        principal = Principal(user_id=owner, username="owner", role=Role.trader)
        async with database.transaction() as session:
            await service.create_rule(
                session,
                principal,
                engine,
                RiskRuleCreate(kind="bot_daily_loss", threshold=Decimal(40), action="alert"),
            )
        statements.clear()
        for _ in range(20):
            for bot in bots:
                await sync(engine, bot)
        assert len(await alerts(database, owner)) == 3
        # Three alerts written; otherwise a handful of reads, not one per sync.
        reads = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
        assert len(reads) < 25, reads
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", count)

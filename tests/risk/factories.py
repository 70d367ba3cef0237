"""Rows for risk tests (bots, trades, snapshots, alerts, live states), stored for real."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from core_server.auth import service as auth
from core_server.auth.models import Role
from core_server.auth.schemas import AdminUserCreate
from core_server.bots.models import Bot, BotKind, BotStatus
from core_server.collector.models import EquitySnapshot, MirroredTrade
from core_server.collector.schemas import BotLiveState, OpenTradeBrief
from core_server.core.database import Database, utcnow
from core_server.risk.models import Alert, RiskRule

_names = itertools.count(1)


async def add_user(database: Database, role: Role = Role.trader) -> int:
    name = f"risk{next(_names)}"
    body = AdminUserCreate(
        username=name, email=f"{name}@example.com", password="Str0ng-Passw0rd!", role=role
    )
    async with database.transaction() as session:
        return (await auth.create_user(session, None, body)).id


async def add_bot(
    database: Database,
    owner_id: int,
    *,
    status: BotStatus = BotStatus.stopped,
    pairs: tuple[str, ...] = ("BTC/USDT", "ETH/USDT"),
    api_port: int | None = None,
) -> Bot:
    async with database.transaction() as session:
        bot = Bot(
            name=f"bot{next(_names)}",
            owner_id=owner_id,
            kind=BotKind.managed,
            strategy_name="SampleStrategy",
            exchange="simulator",
            stake_currency="USDT",
            stake_amount=Decimal(50),
            pairs=list(pairs),
            status=status,
            api_port=api_port,
            api_username="risk-test",
            api_password="",
        )
        session.add(bot)
    return bot


async def add_rule(database: Database, owner_id: int, **fields: Any) -> RiskRule:
    async with database.transaction() as session:
        rule = RiskRule(owner_id=owner_id, **fields)
        session.add(rule)
    return rule


async def add_trade(
    database: Database,
    bot: Bot,
    *,
    pair: str = "BTC/USDT",
    stake: float = 50,
    profit: float = 0,
    closed_at: datetime | None = None,
) -> MirroredTrade:
    async with database.transaction() as session:
        trade = MirroredTrade(
            bot_id=bot.id,
            owner_id=bot.owner_id,
            ft_trade_id=next(_names),
            pair=pair,
            base_currency=pair.split("/")[0],
            stake_currency=pair.split("/")[1],
            is_open=closed_at is None,
            amount=Decimal(1),
            stake_amount=Decimal(str(stake)),
            open_rate=Decimal(100),
            close_rate=Decimal(100) if closed_at else None,
            profit_abs=Decimal(str(profit)),
            profit_ratio=Decimal(0),
            open_date=(closed_at or utcnow()) - timedelta(minutes=5),
            close_date=closed_at,
        )
        session.add(trade)
    return trade


async def add_snapshot(database: Database, bot: Bot, equity: float) -> None:
    async with database.transaction() as session:
        session.add(
            EquitySnapshot(
                bot_id=bot.id,
                owner_id=bot.owner_id,
                stake_currency="USDT",
                equity=Decimal(str(equity)),
                free=Decimal(str(equity)),
                profit_closed=Decimal(0),
                profit_open=Decimal(0),
                open_trades=0,
            )
        )


async def add_alert(database: Database, owner_id: int, **fields: Any) -> Alert:
    values: dict[str, Any] = {
        "severity": "warning",
        "kind": "bot_daily_loss",
        "message": "a test alert",
        "details": {},
    }
    values.update(fields)
    async with database.transaction() as session:
        alert = Alert(owner_id=owner_id, **values)
        session.add(alert)
    return alert


def live_state(
    bot: Bot,
    *,
    equity: float = 1000,
    open_profits: tuple[float, ...] = (),
    closed_trades: int = 0,
) -> BotLiveState:
    return BotLiveState(
        bot_id=bot.id,
        owner_id=bot.owner_id,
        healthy=True,
        collected_at=utcnow(),
        stake_currency="USDT",
        equity=Decimal(str(equity)),
        starting_capital=Decimal(1000),
        closed_trade_count=closed_trades,
        open_trades=[
            OpenTradeBrief(
                trade_id=i + 1, pair="BTC/USDT", stake_amount=50, profit_abs=p, profit_ratio=0
            )
            for i, p in enumerate(open_profits)
        ],
    )

"""Rows for analytics tests: bots, mirrored trades and equity snapshots with known numbers,
written straight to the database as the collector would."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from core_server.auth.models import Role, User
from core_server.bots.models import Bot, BotKind
from core_server.collector.models import EquitySnapshot, MirroredTrade

_ids = itertools.count(1)


def at(day: int, hour: int = 0, minute: int = 0, month: int = 1) -> datetime:
    """A moment in January 2024 (UTC); 2024-01-01 is a Monday."""
    return datetime(2024, month, day, hour, minute, tzinfo=UTC)


@dataclass(frozen=True)
class BotInfo:
    id: int
    owner_id: int
    stake_currency: str
    strategy: str


class AnalyticsFactory:
    def __init__(self, app: FastAPI) -> None:
        self.database = app.state.database
        self._session: AsyncSession | None = None

    @asynccontextmanager
    async def batch(self) -> AsyncIterator[None]:
        """Write every row made inside in one transaction."""
        async with self.database.transaction() as session:
            self._session = session
            try:
                yield
            finally:
                self._session = None

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[AsyncSession]:
        if self._session is not None:
            yield self._session
        else:
            async with self.database.transaction() as session:
                yield session

    async def owner(self) -> int:
        """A user who only owns rows (no password: logging in costs a password hash, which
        tests that never act as this user need not pay)."""
        async with self._transaction() as session:
            number = next(_ids)
            user = User(
                username=f"owner{number}",
                email=f"owner{number}@example.com",
                hashed_password="!",  # noqa: S106 - matches no password
                role=Role.trader,
            )
            session.add(user)
            await session.flush()
            return user.id

    async def bot(
        self,
        owner_id: int,
        *,
        strategy: str = "SampleStrategy",
        stake_currency: str = "USDT",
        dry_run_wallet: float = 1000,
        kind: str = BotKind.managed,
        dry_run: bool = True,
        config: dict[str, Any] | None = None,
        created_at: datetime | None = None,
    ) -> BotInfo:
        async with self._transaction() as session:
            bot = Bot(
                name=f"bot{next(_ids)}",
                strategy_name=strategy,
                exchange="binance",
                stake_currency=stake_currency,
                stake_amount=Decimal(100),
                owner_id=owner_id,
                kind=kind,
                dry_run=dry_run,
                dry_run_wallet=Decimal(str(dry_run_wallet)),
                config=config or {},
                api_username="analytics",
                api_password="unused",  # noqa: S106
                created_at=created_at or datetime(2023, 12, 1, tzinfo=UTC),
            )
            session.add(bot)
            await session.flush()
            return BotInfo(bot.id, owner_id, stake_currency, strategy)

    async def trade(
        self,
        bot: BotInfo,
        *,
        profit: float,
        ratio: float,
        opened: datetime,
        closed: datetime | None = None,
        pair: str = "BTC/USDT",
        stake: float = 100,
        exit_reason: str | None = None,
        enter_tag: str | None = None,
        is_short: bool = False,
        strategy: str | None = None,
    ) -> None:
        async with self._transaction() as session:
            session.add(
                MirroredTrade(
                    bot_id=bot.id,
                    owner_id=bot.owner_id,
                    ft_trade_id=next(_ids),
                    pair=pair,
                    base_currency=pair.split("/")[0],
                    stake_currency=bot.stake_currency,
                    strategy=strategy or bot.strategy,
                    enter_tag=enter_tag,
                    exit_reason=exit_reason if closed else None,
                    is_open=closed is None,
                    is_short=is_short,
                    amount=Decimal(1),
                    stake_amount=Decimal(str(stake)),
                    open_rate=Decimal(100),
                    close_rate=Decimal(100) if closed else None,
                    profit_abs=Decimal(str(profit)),
                    profit_ratio=Decimal(str(ratio)),
                    open_date=opened,
                    close_date=closed,
                )
            )

    async def snapshot(self, bot: BotInfo, taken_at: datetime, equity: float, free: float) -> None:
        async with self._transaction() as session:
            session.add(
                EquitySnapshot(
                    bot_id=bot.id,
                    owner_id=bot.owner_id,
                    taken_at=taken_at,
                    stake_currency=bot.stake_currency,
                    equity=Decimal(str(equity)),
                    free=Decimal(str(free)),
                    profit_closed=Decimal(0),
                    profit_open=Decimal(0),
                    open_trades=0,
                )
            )

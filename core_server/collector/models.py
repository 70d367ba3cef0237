"""What the collector mirrors from every bot: its trades and its equity over time. History and
analytics read these rows, so they stay available while a bot is stopped or unreachable."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core_server.core.database import Base, utcnow

Money = Numeric(28, 10)


class MirroredTrade(Base):
    """One freqtrade trade of one bot, as the bot last reported it."""

    __tablename__ = "trades"
    __table_args__ = (
        # The same trade reported twice is one row: the collector upserts on this key.
        UniqueConstraint("bot_id", "ft_trade_id", name="uq_trades_bot_trade"),
        Index("idx_trades_owner_close", "owner_id", "close_date"),
        Index("idx_trades_bot_open", "bot_id", "is_open"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True
    )
    bot_id: Mapped[int] = mapped_column(ForeignKey("bots.id", ondelete="CASCADE"))
    # Copied from the bot so tenant filters need no join.
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    ft_trade_id: Mapped[int]
    pair: Mapped[str] = mapped_column(String(32))
    base_currency: Mapped[str] = mapped_column(String(20))
    stake_currency: Mapped[str] = mapped_column(String(10))
    strategy: Mapped[str | None] = mapped_column(String(100))
    enter_tag: Mapped[str | None] = mapped_column(String(100))
    exit_reason: Mapped[str | None] = mapped_column(String(100))
    is_open: Mapped[bool]
    is_short: Mapped[bool] = mapped_column(default=False)
    amount: Mapped[Decimal] = mapped_column(Money)
    stake_amount: Mapped[Decimal] = mapped_column(Money)
    open_rate: Mapped[Decimal] = mapped_column(Money)
    close_rate: Mapped[Decimal | None] = mapped_column(Money)
    # For an open trade: the unrealised profit at the last sync.
    profit_abs: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    profit_ratio: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    open_date: Mapped[datetime]
    close_date: Mapped[datetime | None]
    synced_at: Mapped[datetime] = mapped_column(default=utcnow)


class EquitySnapshot(Base):
    """A bot's wallet at one moment. Old snapshots are thinned out (hourly after a day, daily
    after a month) so the table grows with time, not with the polling rate."""

    __tablename__ = "equity_snapshots"
    __table_args__ = (Index("idx_equity_bot_time", "bot_id", "taken_at"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True
    )
    bot_id: Mapped[int] = mapped_column(ForeignKey("bots.id", ondelete="CASCADE"))
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    taken_at: Mapped[datetime] = mapped_column(default=utcnow)
    stake_currency: Mapped[str] = mapped_column(String(10))
    # Total value in the stake currency, including open positions.
    equity: Mapped[Decimal] = mapped_column(Money)
    free: Mapped[Decimal] = mapped_column(Money)
    profit_closed: Mapped[Decimal] = mapped_column(Money)
    profit_open: Mapped[Decimal] = mapped_column(Money)
    open_trades: Mapped[int]

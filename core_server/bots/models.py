"""Bots, as the seed's Database Design page has them, owned by a user."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core_server.core.database import Base, TimestampMixin


class Bot(TimestampMixin, Base):
    __tablename__ = "bots"
    __table_args__ = (
        # The seed makes names globally unique; per owner keeps one tenant from learning another's
        # bot names through a name clash.
        UniqueConstraint("created_by", "name", name="uq_bots_owner_name"),
        Index("idx_bots_name", "name"),
        Index("idx_bots_created_by", "created_by"),
        Index("idx_bots_is_active", "is_active"),
        Index("idx_bots_status", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    strategy_name: Mapped[str] = mapped_column(String(100))
    exchange: Mapped[str] = mapped_column(String(50))
    stake_currency: Mapped[str] = mapped_column(String(10))
    stake_amount: Mapped[Decimal] = mapped_column(Numeric(20, 8))
    max_open_trades: Mapped[int] = mapped_column(default=3)
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    is_active: Mapped[bool] = mapped_column(default=True)
    status: Mapped[str] = mapped_column(String(20), default="stopped")
    pid: Mapped[int | None]
    total_trades: Mapped[int] = mapped_column(default=0)
    profitable_trades: Mapped[int] = mapped_column(default=0)
    total_profit: Mapped[Decimal] = mapped_column(Numeric(20, 8), default=Decimal(0))
    max_drawdown: Mapped[Decimal] = mapped_column(Numeric(20, 8), default=Decimal(0))
    owner_id: Mapped[int] = mapped_column("created_by", ForeignKey("users.id", ondelete="CASCADE"))

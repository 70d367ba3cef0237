"""Bots: the seed's table, owned by a user, plus what running a freqtrade process needs."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core_server.core.database import Base, TimestampMixin


class BotStatus(StrEnum):
    stopped = "stopped"
    starting = "starting"
    running = "running"
    stopping = "stopping"
    error = "error"


class DesiredState(StrEnum):
    """What the user asked for; the supervisor makes the process match it."""

    running = "running"
    stopped = "stopped"


class BotKind(StrEnum):
    managed = "managed"  # a freqtrade process we start and supervise
    external = "external"  # a freqtrade instance that runs elsewhere; we only talk to it


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
    # The user's freqtrade config overrides, merged over the generated config.
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    is_active: Mapped[bool] = mapped_column(default=True)
    status: Mapped[str] = mapped_column(String(20), default=BotStatus.stopped)
    pid: Mapped[int | None]
    total_trades: Mapped[int] = mapped_column(default=0)
    profitable_trades: Mapped[int] = mapped_column(default=0)
    total_profit: Mapped[Decimal] = mapped_column(Numeric(20, 8), default=Decimal(0))
    max_drawdown: Mapped[Decimal] = mapped_column(Numeric(20, 8), default=Decimal(0))
    owner_id: Mapped[int] = mapped_column("created_by", ForeignKey("users.id", ondelete="CASCADE"))
    # The library strategy version the bot runs (None: SampleStrategy or another file strategy).
    # No ON DELETE: a pinned version's strategy cannot be deleted from under a bot.
    strategy_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("strategy_versions.id"), index=True
    )
    # Its number, kept beside the id because versions never change.
    strategy_version: Mapped[int | None]

    kind: Mapped[str] = mapped_column(String(16), default=BotKind.managed)
    pairs: Mapped[list[str]] = mapped_column(JSON, default=list)
    timeframe: Mapped[str] = mapped_column(String(8), default="5m")
    dry_run: Mapped[bool] = mapped_column(default=True)
    dry_run_wallet: Mapped[Decimal] = mapped_column(Numeric(20, 8), default=Decimal(1000))
    desired_state: Mapped[str] = mapped_column(String(16), default=DesiredState.stopped)
    # Managed bots listen on 127.0.0.1:api_port; external ones at api_url.
    api_port: Mapped[int | None] = mapped_column(unique=True)
    api_url: Mapped[str | None] = mapped_column(String(500))
    api_username: Mapped[str] = mapped_column(String(100))
    # Encrypted with the SecretBox, bound to this bot's id; never returned by the API.
    api_password: Mapped[str] = mapped_column(Text)
    jwt_secret: Mapped[str | None] = mapped_column(Text)
    ws_token: Mapped[str | None] = mapped_column(Text)
    exchange_key: Mapped[str | None] = mapped_column(Text)
    exchange_secret: Mapped[str | None] = mapped_column(Text)

    last_error: Mapped[str | None] = mapped_column(Text)
    restart_count: Mapped[int] = mapped_column(default=0)
    next_restart_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    stopped_at: Mapped[datetime | None]

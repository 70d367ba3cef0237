"""Risk rules a user sets, and the alerts they (and other watchers) raise."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Numeric, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from core_server.core.database import Base, utcnow


class RuleKind(StrEnum):
    fleet_max_drawdown = "fleet_max_drawdown"  # over all of the owner's bots
    bot_daily_loss = "bot_daily_loss"  # one bot, or each bot when bot_id is empty
    asset_max_exposure = "asset_max_exposure"  # open stake in one asset over all bots


class RuleAction(StrEnum):
    alert = "alert"
    stop_entries = "stop_entries"  # freqtrade's stopentry: open trades are still managed
    stop_bots = "stop_bots"


class RiskRule(Base):
    __tablename__ = "risk_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    bot_id: Mapped[int | None] = mapped_column(ForeignKey("bots.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    # The limit: a ratio for drawdown (0.2 = 20 %), an amount in the stake currency for daily
    # loss and exposure.
    threshold: Mapped[Decimal] = mapped_column(Numeric(28, 10))
    asset: Mapped[str | None] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(16))
    enabled: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # When the rule last fired; it fires again only after the condition cleared.
    triggered_at: Mapped[datetime | None]
    # A daily-loss rule over all of the owner's bots fires once per bot: the bots it fired for
    # and that have not recovered yet. triggered_at is set while this is not empty.
    triggered_bot_ids: Mapped[list[int]] = mapped_column(
        JSON, default=list, server_default=text("'[]'")
    )
    # fleet_max_drawdown: the highest fleet equity seen since the rule was created or changed
    # (lowered by the last equity of a bot that leaves the fleet, raised by one that joins).
    peak_equity: Mapped[Decimal | None] = mapped_column(Numeric(28, 10))
    # Grows with every change through the API: the engine's writes are conditional on the
    # version it evaluated, so a rule changed meanwhile is never fired or re-armed on stale terms.
    version: Mapped[int] = mapped_column(default=1, server_default=text("1"))


class Alert(Base):
    __tablename__ = "alerts"
    __table_args__ = (Index("idx_alerts_owner_ack", "owner_id", "acknowledged_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    bot_id: Mapped[int | None] = mapped_column(ForeignKey("bots.id", ondelete="SET NULL"))
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("risk_rules.id", ondelete="SET NULL"))
    severity: Mapped[str] = mapped_column(String(16))  # info, warning, critical
    kind: Mapped[str] = mapped_column(String(40))
    message: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[int | None]

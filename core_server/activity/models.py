"""The activity stream: trades, bot state changes, alerts and strategy changes as one ordered
log. The dashboard's feed pages through it, and WebSocket clients resume from an event id."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from core_server.core.database import Base, utcnow


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (
        Index("idx_events_owner_id", "owner_id", "id"),
        Index("idx_events_bot_id", "bot_id", "id"),
        Index("idx_events_type", "type"),
    )

    # Ids only grow, so "everything after event N" is a range scan.
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    # No foreign keys: events outlive the bots and users they mention.
    owner_id: Mapped[int | None]
    bot_id: Mapped[int | None]
    type: Mapped[str] = mapped_column(String(40))
    summary: Mapped[str] = mapped_column(String(300))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

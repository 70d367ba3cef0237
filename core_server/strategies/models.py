"""Strategies, as the seed's Database Design page has them, owned by a user."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core_server.core.database import Base, TimestampMixin


class Strategy(TimestampMixin, Base):
    __tablename__ = "strategies"
    __table_args__ = (
        UniqueConstraint("created_by", "name", name="uq_strategies_owner_name"),
        Index("idx_strategies_name", "name"),
        Index("idx_strategies_created_by", "created_by"),
        Index("idx_strategies_is_active", "is_active"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    code: Mapped[str] = mapped_column(Text)
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    is_active: Mapped[bool] = mapped_column(default=True)
    version: Mapped[str] = mapped_column(String(20), default="1.0.0")
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    owner_id: Mapped[int] = mapped_column("created_by", ForeignKey("users.id", ondelete="CASCADE"))

"""Strategies, as the seed's Database Design page has them, owned by a user; their immutable
versions; and the git repositories some of them come from."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core_server.core.database import Base, TimestampMixin, utcnow


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
    # code and parameters are those of the current version, kept here as the seed has them.
    code: Mapped[str] = mapped_column(Text)
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    is_active: Mapped[bool] = mapped_column(default=True)
    # The seed's VARCHAR column; it holds the current version's number ("1", "2", ...).
    version: Mapped[str] = mapped_column(String(20), default="1")
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    owner_id: Mapped[int] = mapped_column("created_by", ForeignKey("users.id", ondelete="CASCADE"))
    # Set for strategies imported from a git repository: which one, and the file's path in it.
    source_id: Mapped[int | None] = mapped_column(
        ForeignKey("strategy_sources.id", ondelete="SET NULL"), index=True
    )
    source_path: Mapped[str | None] = mapped_column(String(500))


class VersionOrigin(StrEnum):
    """How a version came to be."""

    api = "api"  # written or edited through the API
    template = "template"  # copied from one of our templates
    git = "git"  # imported or re-synced from a git repository
    hyperopt = "hyperopt"  # parameters found by a hyperopt job


class StrategyVersion(Base):
    """One immutable state of a strategy's code and parameters. Bots and backtests pin one."""

    __tablename__ = "strategy_versions"
    __table_args__ = (
        UniqueConstraint("strategy_id", "number", name="uq_strategy_versions_strategy_number"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    strategy_id: Mapped[int] = mapped_column(ForeignKey("strategies.id", ondelete="CASCADE"))
    number: Mapped[int]
    # The class freqtrade loads (`--strategy`); the strategy's name when the version was made.
    class_name: Mapped[str] = mapped_column(String(100))
    code: Mapped[str] = mapped_column(Text)
    # SHA-256 of the code: a re-sync compares it to tell a changed file from an unchanged one.
    code_sha256: Mapped[str] = mapped_column(String(64))
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    origin: Mapped[str] = mapped_column(String(16), default=VersionOrigin.api)
    message: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Who made it (an admin may edit another user's strategy); kept when that user goes.
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class StrategySource(TimestampMixin, Base):
    """A git repository (URL, branch, folder) whose strategy files are imported and re-synced."""

    __tablename__ = "strategy_sources"
    __table_args__ = (
        UniqueConstraint("owner_id", "url", "branch", "path", name="uq_strategy_sources_location"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # Never holds credentials: a token lives encrypted in `token`, bound to this row's id.
    url: Mapped[str] = mapped_column(String(500))
    branch: Mapped[str] = mapped_column(String(200))
    path: Mapped[str] = mapped_column(String(500), default="")
    token: Mapped[str | None] = mapped_column(Text)
    last_commit: Mapped[str | None] = mapped_column(String(64))
    last_synced_at: Mapped[datetime | None]

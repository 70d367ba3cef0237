from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, Field


class OpenTradeBrief(BaseModel):
    trade_id: int
    pair: str
    stake_amount: float
    profit_abs: float
    profit_ratio: float
    open_date: str | None = None


class BotLiveState(BaseModel):
    """The latest picture of one bot, as the collector last saw it."""

    bot_id: int
    owner_id: int
    healthy: bool
    collected_at: datetime | None = None
    last_error: str | None = None
    consecutive_failures: int = 0
    stake_currency: str | None = None
    equity: Decimal | None = Field(None, description="Total value in the stake currency.")
    free: Decimal | None = None
    starting_capital: Decimal | None = None
    profit_closed: Decimal = Decimal(0)
    profit_open: Decimal = Decimal(0)
    trade_count: int = 0
    closed_trade_count: int = 0
    winning_trades: int = 0
    losing_trades: int = 0
    open_trades: list[OpenTradeBrief] = Field(default_factory=list)


class CollectionHealth(StrEnum):
    healthy = "healthy"
    # Failed its last round(s) but fewer than the collector's limit: maybe a blip.
    degraded = "degraded"
    unhealthy = "unhealthy"
    # Not collected yet, or its state expired (a stopped bot, or no collector running).
    unknown = "unknown"


class BotLiveRead(BaseModel):
    """What the collector last saw of a bot, and how well collecting it goes."""

    bot_id: int
    name: str
    status: str
    health: CollectionHealth
    collected_at: datetime | None = None
    age_seconds: float | None = Field(None, description="How old the figures are.")
    last_error: str | None = None
    consecutive_failures: int = 0
    stake_currency: str
    equity: Decimal | None = None
    free: Decimal | None = None
    profit_closed: Decimal | None = None
    profit_open: Decimal | None = None
    open_trades: list[OpenTradeBrief] = Field(default_factory=list)

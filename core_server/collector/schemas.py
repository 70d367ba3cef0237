from __future__ import annotations

from datetime import datetime
from decimal import Decimal

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

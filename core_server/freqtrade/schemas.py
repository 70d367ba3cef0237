"""The parts of freqtrade's REST answers we rely on. Every model keeps the fields it does not
name (extra="allow"), so the API passes freqtrade's whole answer on; parsing is defensive
because freqtrade's shapes are not a promised interface."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class FreqtradeModel(BaseModel):
    model_config = ConfigDict(extra="allow")


class Ping(FreqtradeModel):
    status: str


class StatusMsg(FreqtradeModel):
    status: str


class ResultMsg(FreqtradeModel):
    result: str


class ShowConfig(FreqtradeModel):
    state: str | None = None
    bot_name: str | None = None
    strategy: str | None = None
    dry_run: bool | None = None
    stake_currency: str | None = None
    timeframe: str | None = None
    api_version: float | None = None
    version: str | None = None


class Trade(FreqtradeModel):
    trade_id: int
    pair: str
    is_open: bool
    amount: float | None = None
    stake_amount: float | None = None
    open_rate: float | None = None
    close_rate: float | None = None
    open_date: str | None = None
    close_date: str | None = None
    profit_abs: float | None = None
    profit_ratio: float | None = None
    exit_reason: str | None = None
    enter_tag: str | None = None


class TradesPage(FreqtradeModel):
    trades: list[Trade]
    trades_count: int
    offset: int = 0
    total_trades: int


class Profit(FreqtradeModel):
    profit_closed_coin: float = 0.0
    profit_closed_ratio: float | None = None
    profit_all_coin: float = 0.0
    profit_all_ratio: float | None = None
    trade_count: int = 0
    closed_trade_count: int = 0
    winning_trades: int = 0
    losing_trades: int = 0
    max_drawdown: float | None = None
    max_drawdown_abs: float | None = None


class Balance(FreqtradeModel):
    currency: str
    free: float
    balance: float
    used: float


class Balances(FreqtradeModel):
    currencies: list[Balance] = Field(default_factory=list)
    total: float = 0.0
    stake: str | None = None
    starting_capital: float | None = None


class PerformanceEntry(FreqtradeModel):
    pair: str
    profit: float | None = None
    profit_abs: float | None = None
    count: int | None = None


class DailyRecord(FreqtradeModel):
    date: str
    abs_profit: float
    rel_profit: float | None = None
    starting_balance: float | None = None
    trade_count: int


class Daily(FreqtradeModel):
    data: list[DailyRecord]
    stake_currency: str | None = None


class Logs(FreqtradeModel):
    log_count: int
    logs: list[list[Any]]

"""Analytics API shapes: the scope every endpoint takes, the custom query, and the typed reports.

Money is in the scope's stake currency. Ratios are fractions (0.05 = 5 %); fields ending in
`_pct` are the same figure times 100. A figure that is undefined for the data (no closed trades,
no losing trade, fewer than two days of returns) is null, never NaN or infinity.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

BotId = Annotated[int, Field(ge=1, le=2_147_483_647)]
Name = Annotated[str, Field(min_length=1, max_length=100)]
Currency = Annotated[str, Field(min_length=1, max_length=10, pattern=r"^[A-Za-z0-9]+$")]

Period = Literal["day", "week", "month"]
GroupBy = Literal[
    "bot",
    "strategy",
    "pair",
    "base_currency",
    "stake_currency",
    "exit_reason",
    "enter_tag",
    "day",
    "week",
    "month",
    "is_short",
]
Metric = Literal[
    "trade_count", "profit_abs", "profit_ratio_mean", "win_rate", "avg_duration_minutes", "volume"
]

# One literal of both (nested literals flatten), so a bad value is one error, not one per part.
OrderBy = Literal[GroupBy, Metric]

PERIODS: tuple[str, ...] = get_args(Period)
GROUP_BY_NAMES: tuple[str, ...] = get_args(GroupBy)
METRIC_NAMES: tuple[str, ...] = get_args(Metric)
DEFAULT_METRICS: tuple[Metric, ...] = ("trade_count", "profit_abs")
# Metrics summing money: they need one stake currency (or a group per currency).
MONEY_METRICS = frozenset({"profit_abs", "volume"})


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ScopeParams(_Input):
    """Which trades and bots a report covers. With no parameters: all of the caller's bots."""

    bot_id: BotId | None = Field(None, description="One bot (yours; an admin's: any).")
    strategy: Name | None = Field(
        None, description="Trades made by this strategy, and the capital of bots running it."
    )
    stake_currency: Currency | None = Field(
        None,
        description="Required when the bots in scope use more than one stake currency.",
    )
    since: datetime | None = Field(
        None, description="Closed trades from this moment (UTC when no zone is given)."
    )
    until: datetime | None = Field(None, description="Closed trades before this moment.")


class ProfitParams(ScopeParams):
    period: Period = Field("day", description="The length of one step of the series.")
    limit: int = Field(366, ge=1, le=5000, description="At most this many (the latest) steps.")


class PortfolioParams(_Input):
    """The portfolio as of `until` (default now), its change since `since` (default 24 h
    before)."""

    bot_id: BotId | None = None
    strategy: Name | None = None
    stake_currency: Currency | None = None
    since: datetime | None = Field(None, description="Start of the change window.")
    until: datetime | None = Field(None, description="The moment to value; default now.")


class CustomFilters(_Input):
    """Filters of a custom query. A trade's date is its close date, or its open date while it
    is open."""

    bot_id: BotId | None = None
    strategy: Name | None = None
    stake_currency: Currency | None = None
    pair: Annotated[str, Field(min_length=1, max_length=32)] | None = None
    base_currency: Annotated[str, Field(min_length=1, max_length=20)] | None = None
    exit_reason: Name | None = None
    enter_tag: Name | None = None
    is_open: bool | None = None
    is_short: bool | None = None
    since: datetime | None = None
    until: datetime | None = None
    min_profit: float | None = Field(None, description="Profit (stake currency) at least this.")
    max_profit: float | None = Field(None, description="Profit (stake currency) at most this.")


FILTER_NAMES: tuple[str, ...] = tuple(CustomFilters.model_fields)


class CustomQuery(_Input):
    """A custom aggregation over the caller's mirrored trades, built only from whitelisted
    names."""

    group_by: list[GroupBy] = Field(default_factory=list, max_length=3)
    metrics: list[Metric] = Field(
        default_factory=lambda: list(DEFAULT_METRICS), min_length=1, max_length=6
    )
    filters: CustomFilters = Field(default_factory=CustomFilters)
    order_by: OrderBy | None = Field(
        None, description="One of the chosen group_by or metrics; default: the groups in order."
    )
    descending: bool = False
    limit: int = Field(100, ge=1, le=1000)


class CustomQueryParams(CustomFilters):
    """`GET /analytics/custom`: the custom query as query parameters, its filters flat."""

    group_by: list[GroupBy] = Field(default_factory=list, max_length=3)
    metrics: list[Metric] = Field(
        default_factory=lambda: list(DEFAULT_METRICS), min_length=1, max_length=6
    )
    order_by: OrderBy | None = None
    descending: bool = False
    limit: int = Field(100, ge=1, le=1000)

    def to_query(self) -> CustomQuery:
        filters = CustomFilters(**self.model_dump(include=set(FILTER_NAMES)))
        return CustomQuery(
            group_by=self.group_by,
            metrics=self.metrics,
            filters=filters,
            order_by=self.order_by,
            descending=self.descending,
            limit=self.limit,
        )


# Allowed values, by the name of the field that takes them, for 422 details.
ALLOWED_VALUES: dict[str, tuple[str, ...]] = {
    "group_by": GROUP_BY_NAMES,
    "metrics": METRIC_NAMES,
    "order_by": GROUP_BY_NAMES + METRIC_NAMES,
    "period": PERIODS,
}


# --- reports ----------------------------------------------------------------------------------


class ScopeRead(BaseModel):
    bot_id: int | None
    strategy: str | None
    stake_currency: str | None = Field(description="Null when the scope holds no bots.")
    since: datetime | None
    until: datetime | None
    bot_count: int


class PerformanceRead(BaseModel):
    """Closed-trade performance over the period, plus the positions open now."""

    scope: ScopeRead
    period_start: datetime | None = Field(description="`since`, else the first trade's open.")
    period_end: datetime | None = Field(description="`until` (at most now), else the last close.")
    days: float | None = Field(description="Length of the period in days (at least 1).")
    starting_balance: float = Field(
        description="Starting capital of the bots plus closed profit before `since`."
    )
    profit_abs: float = Field(description="Sum of closed trades' profit.")
    profit_ratio: float | None = Field(description="profit_abs / starting_balance.")
    profit_pct: float | None
    profit_open_abs: float = Field(description="Unrealised profit of open trades (last sync).")
    trade_count: int = Field(description="Closed trades in the period plus open trades.")
    closed_trade_count: int
    open_trade_count: int
    wins: int = Field(description="Closed trades with profit >= 0 (as freqtrade's /profit).")
    losses: int = Field(description="Closed trades with profit < 0.")
    win_rate: float | None = Field(description="wins / closed_trade_count.")
    avg_duration_seconds: float | None = Field(description="Mean open-to-close time.")
    profit_factor: float | None = Field(description="Gross profit / gross loss.")
    expectancy: float | None = Field(description="Mean profit per closed trade.")
    sharpe: float | None
    sortino: float | None
    calmar: float | None
    max_drawdown_abs: float | None
    max_drawdown_ratio: float | None
    max_drawdown_pct: float | None
    cagr: float | None
    first_trade_at: datetime | None = Field(description="Open date of the first closed trade.")
    last_trade_at: datetime | None = Field(description="Close date of the last closed trade.")


class ProfitPoint(BaseModel):
    period_start: date
    trade_count: int
    wins: int
    losses: int
    profit_abs: float
    profit_ratio: float | None = Field(description="profit_abs / balance at the period's start.")
    cumulative_profit_abs: float = Field(description="Closed profit since the scope's start.")
    balance: float = Field(description="Starting balance plus cumulative profit at the end.")


class ProfitSeries(BaseModel):
    scope: ScopeRead
    period: Period
    starting_balance: float
    items: list[ProfitPoint] = Field(description="Every step, empty ones too, oldest first.")
    truncated: bool = Field(description="Older steps were left out (see `limit`).")


class ExposureFields(BaseModel):
    stake_abs: float = Field(description="Stake in open trades.")
    share: float | None = Field(description="stake_abs / all open stake in scope.")
    unrealised_profit_abs: float
    trade_count: int


class ExposureItem(ExposureFields):
    key: str


class BotExposure(ExposureFields):
    bot_id: int


class Concentration(BaseModel):
    largest_asset: str | None
    largest_asset_share: float | None
    largest_pair_share: float | None
    largest_bot_share: float | None
    hhi_asset: float | None = Field(
        description="Herfindahl index of the asset shares: 1 = all in one asset."
    )


class RiskRead(BaseModel):
    scope: ScopeRead
    balance: float = Field(description="Starting balance plus closed profit.")
    open_trade_count: int
    exposure_abs: float = Field(description="Stake in open trades.")
    exposure_ratio: float | None = Field(description="exposure_abs / balance.")
    unrealised_profit_abs: float
    open_risk_abs: float = Field(
        description="Market value of open positions (stake plus unrealised profit): what is "
        "lost if every open position went to zero."
    )
    open_risk_ratio: float | None = Field(description="open_risk_abs / balance.")
    by_asset: list[ExposureItem]
    by_pair: list[ExposureItem]
    by_bot: list[BotExposure]
    concentration: Concentration
    current_drawdown_abs: float | None
    current_drawdown_ratio: float | None
    max_drawdown_abs: float | None
    max_drawdown_ratio: float | None
    var_95_ratio: float | None = Field(
        description="Historical 95 % value at risk of a daily return (positive = a loss)."
    )
    var_95_abs: float | None = Field(description="var_95_ratio times the balance.")
    return_days: int = Field(description="Daily returns the VaR is taken from.")


class ValuationSources(BaseModel):
    live: int = Field(description="Bots valued from the collector's latest state.")
    snapshot: int = Field(description="Bots valued from their last equity snapshot.")
    estimated: int = Field(description="Bots with neither: wallet plus mirrored profit.")


class PortfolioRead(BaseModel):
    """The seed's Portfolio Overview widget."""

    scope: ScopeRead
    as_of: datetime
    total_value: float = Field(description="Total value of the bots' wallets, open positions in.")
    change_since: datetime
    value_at_change_since: float
    change_abs: float
    change_ratio: float | None
    active_positions: int = Field(description="Trades open at `as_of`.")
    available_balance: float = Field(description="Free stake currency.")
    open_stake_abs: float
    unrealised_profit_abs: float | None = Field(description="Null for a past `until`.")
    valued_from: ValuationSources


class CustomRow(BaseModel):
    group: dict[str, str | int | bool | None]
    metrics: dict[str, float | int | None]


class CustomResult(BaseModel):
    stake_currency: str | None = Field(description="Null when grouped by stake_currency.")
    group_by: list[GroupBy]
    metrics: list[Metric]
    rows: list[CustomRow]
    truncated: bool = Field(description="More groups matched than `limit`.")

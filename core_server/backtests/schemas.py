"""API shapes for market data and jobs (backtests, hyperopt runs, downloads)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from core_server.backtests.models import JobKind, JobState
from core_server.bots.schemas import EXCHANGES, SIMULATOR, TIMEFRAMES

__all__ = ["SIMULATOR"]

PAIR = re.compile(r"^[A-Z0-9]{1,20}/[A-Z0-9]{1,20}$")
TIMERANGE = re.compile(r"^(\d{8})-(\d{8})$")
HYPEROPT_LOSSES = frozenset(
    {
        "ShortTradeDurHyperOptLoss",
        "OnlyProfitHyperOptLoss",
        "SharpeHyperOptLoss",
        "SharpeHyperOptLossDaily",
        "SortinoHyperOptLoss",
        "SortinoHyperOptLossDaily",
        "CalmarHyperOptLoss",
        "MaxDrawDownHyperOptLoss",
        "MaxDrawDownRelativeHyperOptLoss",
        "MaxDrawDownPerPairHyperOptLoss",
        "ProfitDrawDownHyperOptLoss",
        "MultiMetricHyperOptLoss",
    }
)
HyperoptSpace = Literal[
    "default", "all", "buy", "sell", "enter", "exit", "roi", "stoploss", "trailing", "protection",
    "trades",
]  # fmt: skip
# Config keys a job may set besides its own fields: how the strategy trades, never where files,
# databases or exchange endpoints are (the worker would reach them).
CONFIG_OVERRIDES = frozenset(
    {
        "freqai",
        "minimal_roi",
        "stoploss",
        "trailing_stop",
        "trailing_stop_positive",
        "trailing_stop_positive_offset",
        "trailing_only_offset_is_reached",
        "use_exit_signal",
        "exit_profit_only",
        "exit_profit_offset",
        "ignore_roi_if_entry_signal",
        "protections",
        "position_adjustment_enable",
        "max_entry_position_adjustment",
        "tradable_balance_ratio",
        "unfilledtimeout",
        "order_types",
        "entry_pricing",
        "exit_pricing",
        "timeframe_detail",
    }
)

StrategyName = Annotated[
    str, StringConstraints(min_length=1, max_length=100, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
]


class Timerange(BaseModel):
    start: date
    end: date

    @property
    def text(self) -> str:
        return f"{self.start:%Y%m%d}-{self.end:%Y%m%d}"


def parse_timerange(value: str) -> Timerange:
    """freqtrade's `YYYYMMDD-YYYYMMDD`, both ends real dates, the start before the end and
    neither in the future (there are no candles there yet)."""
    match = TIMERANGE.match(value)
    if not match:
        raise ValueError("use freqtrade's form YYYYMMDD-YYYYMMDD, e.g. 20250101-20250201")
    try:
        start, end = (datetime.strptime(part, "%Y%m%d").date() for part in match.groups())
    except ValueError as exc:
        raise ValueError(f"not a date: {exc}") from exc
    if start >= end:
        raise ValueError("the start must be before the end")
    today = datetime.now(UTC).date()
    if start >= today:
        raise ValueError(f"the start is not in the past (today is {today:%Y%m%d})")
    if end > today:
        raise ValueError(f"the end is in the future (today is {today:%Y%m%d})")
    return Timerange(start=start, end=end)


def _check_pairs(pairs: list[str]) -> list[str]:
    for pair in pairs:
        if not PAIR.match(pair):
            raise ValueError(f"{pair!r} is not a pair of the form BASE/QUOTE, e.g. BTC/USDT")
    if len(set(pairs)) != len(pairs):
        raise ValueError("pairs must be unique")
    return pairs


def _check_exchange(value: str) -> str:
    value = value.lower()
    if value not in EXCHANGES:
        raise ValueError(f"unknown exchange; one of {', '.join(sorted(EXCHANGES))}")
    return value


def _check_timeframe(value: str) -> str:
    if value not in TIMEFRAMES:
        raise ValueError(f"unknown timeframe; one of {', '.join(sorted(TIMEFRAMES))}")
    return value


class BacktestRun(BaseModel):
    """A backtest: a strategy from the library over a timerange of candles."""

    model_config = ConfigDict(extra="forbid")

    strategy: StrategyName = Field(description="Strategy class name, e.g. SampleStrategy.")
    strategy_version: int | None = Field(None, ge=1, description="Default: the latest version.")
    exchange: str = Field(SIMULATOR, description="`simulator` (offline) or a real exchange.")
    pairs: list[str] = Field(min_length=1, max_length=100, examples=[["BTC/USDT", "ETH/USDT"]])
    timeframe: str = "5m"
    timerange: str = Field(examples=["20250101-20250201"], description="YYYYMMDD-YYYYMMDD")
    dry_run_wallet: float = Field(1000.0, gt=0, le=1e12)
    stake_amount: float | Literal["unlimited"] = Field(100.0, description="Or 'unlimited'.")
    max_open_trades: int = Field(3, ge=-1, le=1000)
    fee: float | None = Field(None, ge=0, le=0.1, description="Fee ratio per side (0.001).")
    enable_protections: bool = False
    freqai_model: str | None = Field(
        None, max_length=100, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", examples=["LightGBMRegressor"]
    )
    config: dict[str, Any] = Field(
        default_factory=dict,
        description="freqtrade config keys for the strategy's trading (freqai, minimal_roi, "
        "stoploss, protections ...); never paths, databases or exchange endpoints.",
    )

    @field_validator("exchange")
    @classmethod
    def check_exchange(cls, value: str) -> str:
        return _check_exchange(value)

    @field_validator("timeframe")
    @classmethod
    def check_timeframe(cls, value: str) -> str:
        return _check_timeframe(value)

    @field_validator("stake_amount")
    @classmethod
    def positive_stake(cls, value: float | str) -> float | str:
        if isinstance(value, float | int) and value <= 0:
            raise ValueError("must be greater than 0 (or 'unlimited')")
        return value

    @field_validator("timerange")
    @classmethod
    def check_timerange(cls, value: str) -> str:
        return parse_timerange(value).text

    @field_validator("pairs")
    @classmethod
    def check_pairs(cls, pairs: list[str]) -> list[str]:
        _check_pairs(pairs)
        quotes = {pair.split("/")[1] for pair in pairs}
        if len(quotes) > 1:
            raise ValueError(
                "all pairs must share one quote currency (the stake currency), "
                f"not {sorted(quotes)}"
            )
        return pairs

    @field_validator("config")
    @classmethod
    def check_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        refused = sorted(set(config) - CONFIG_OVERRIDES)
        if refused:
            raise ValueError(
                f"keys {refused} may not be set here; allowed: {sorted(CONFIG_OVERRIDES)}"
            )
        return config

    @property
    def stake_currency(self) -> str:
        return self.pairs[0].split("/")[1]


def _default_spaces() -> list[HyperoptSpace]:
    return ["default"]


class HyperoptRun(BacktestRun):
    """A hyperopt run: freqtrade searches the strategy's parameters over the timerange."""

    epochs: int = Field(30, ge=1, le=10_000)
    spaces: list[HyperoptSpace] = Field(default_factory=_default_spaces, min_length=1)
    loss: str = Field("SharpeHyperOptLoss", description="A freqtrade hyperopt loss class.")
    random_state: int | None = Field(None, ge=0, le=2**31 - 1)
    min_trades: int | None = Field(None, ge=1, le=100_000)

    @field_validator("loss")
    @classmethod
    def check_loss(cls, value: str) -> str:
        if value not in HYPEROPT_LOSSES:
            raise ValueError(f"unknown loss; one of {', '.join(sorted(HYPEROPT_LOSSES))}")
        return value


class DownloadRequest(BaseModel):
    """Candles to fetch with `freqtrade download-data` into the shared market data."""

    model_config = ConfigDict(extra="forbid")

    exchange: str = SIMULATOR
    pairs: list[str] = Field(min_length=1, max_length=200)
    timeframes: list[str] = Field(default_factory=lambda: ["5m"], min_length=1, max_length=14)
    timerange: str = Field(examples=["20250101-20250201"])

    @field_validator("exchange")
    @classmethod
    def check_exchange(cls, value: str) -> str:
        return _check_exchange(value)

    @field_validator("pairs")
    @classmethod
    def check_pairs(cls, pairs: list[str]) -> list[str]:
        return _check_pairs(pairs)

    @field_validator("timeframes")
    @classmethod
    def check_timeframes(cls, values: list[str]) -> list[str]:
        for value in values:
            _check_timeframe(value)
        return sorted(set(values), key=values.index)

    @field_validator("timerange")
    @classmethod
    def check_timerange(cls, value: str) -> str:
        return parse_timerange(value).text


class MarketDataFile(BaseModel):
    exchange: str
    pair: str
    timeframe: str
    candles: int
    first_candle: datetime | None
    last_candle: datetime | None
    size_bytes: int


class MarketDataList(BaseModel):
    items: list[MarketDataFile]
    total: int


class JobRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: JobKind
    state: JobState
    progress: float
    stage: str | None
    params: dict[str, Any]
    error: str | None
    attempts: int
    max_attempts: int
    worker_id: str | None
    pid: int | None = Field(description="The running freqtrade process (its group) on the worker.")
    owner_id: int
    strategy_name: str | None
    strategy_version: int | None
    queued_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None
    created_at: datetime


class JobPage(BaseModel):
    items: list[JobRead]
    total: int
    limit: int
    offset: int


class JobResults(BaseModel):
    """What freqtrade's export said, as stored. Backtests: summary, per_pair, trades,
    equity_curve, drawdown, exit_reasons. Hyperopt: summary of the best epoch, best_params
    and parameter_file. Downloads: files."""

    model_config = ConfigDict(from_attributes=True)

    summary: dict[str, Any]
    per_pair: list[dict[str, Any]]
    trades: list[dict[str, Any]]
    equity_curve: list[dict[str, Any]]
    drawdown: list[dict[str, Any]]
    exit_reasons: list[dict[str, Any]]
    best_params: dict[str, Any] | None
    parameter_file: dict[str, Any] | None
    files: list[dict[str, Any]]
    export_file: str | None


class JobDetail(JobRead):
    strategy_code: str | None = None
    results: JobResults | None = None


class SaveParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: str | None = Field(None, max_length=500, description="A note for the new version.")


class JobDeleted(BaseModel):
    id: int
    state: JobState = Field(description="The state the job was in when it was deleted.")
    process_ended: bool | None = Field(
        None, description="For a running job: whether its freqtrade process was seen to end."
    )

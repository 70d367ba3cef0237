"""Ratio metrics over a daily series, in plain Python: the database hands us one row per day,
so these loops are over days, not trades. Each returns None where the figure is undefined."""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from datetime import date, timedelta

DAYS_PER_YEAR = 365


def finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def ratio(numerator: float, denominator: float) -> float | None:
    return finite(numerator / denominator) if denominator else None


def daily_returns(
    starting_balance: float, profit_by_day: Mapping[date, float], first: date, last: date
) -> list[float] | None:
    """One return per calendar day from `first` to `last`, both included (days without a
    closed trade return 0): the day's closed profit over the balance at the day's start, the
    balance being the starting balance plus the profit closed before. None when the balance is
    not positive at some start of day (returns are undefined then)."""
    returns: list[float] = []
    balance = starting_balance
    day = first
    while day <= last:
        if balance <= 0:
            return None
        profit = profit_by_day.get(day, 0.0)
        returns.append(profit / balance)
        balance += profit
        day += timedelta(days=1)
    return returns


def sharpe(returns: Sequence[float]) -> float | None:
    """Mean daily return over its (population) standard deviation, times sqrt(365)."""
    if len(returns) < 2:
        return None
    deviation = statistics.pstdev(returns)
    if deviation == 0:
        return None
    return finite(statistics.fmean(returns) / deviation * math.sqrt(DAYS_PER_YEAR))


def sortino(returns: Sequence[float]) -> float | None:
    """Mean daily return over the downside deviation sqrt(mean(min(r, 0)^2)) (target 0, all
    days counted), times sqrt(365). None without a losing day."""
    if len(returns) < 2:
        return None
    downside = math.sqrt(sum(min(r, 0.0) ** 2 for r in returns) / len(returns))
    if downside == 0:
        return None
    return finite(statistics.fmean(returns) / downside * math.sqrt(DAYS_PER_YEAR))


def calmar(returns: Sequence[float], max_drawdown_ratio: float | None) -> float | None:
    """Annualised mean daily return (times 365) over the max drawdown ratio."""
    if not returns or not max_drawdown_ratio:
        return None
    return finite(statistics.fmean(returns) * DAYS_PER_YEAR / max_drawdown_ratio)


def value_at_risk_95(returns: Sequence[float]) -> float | None:
    """Historical 95 % VaR: minus the 5th percentile of the daily returns (linear
    interpolation between the closest ranks, as numpy's default). Positive means a loss."""
    if len(returns) < 2:
        return None
    fifth = statistics.quantiles(returns, n=20, method="inclusive")[0]
    return finite(-fifth) if fifth != 0 else 0.0


def cagr(starting_balance: float, final_balance: float, days: float) -> float | None:
    """(final / start) ^ (365 / days) - 1."""
    if starting_balance <= 0 or final_balance < 0 or days <= 0:
        return None
    try:
        return finite((final_balance / starting_balance) ** (DAYS_PER_YEAR / days) - 1)
    except OverflowError:
        return None


def hhi(shares: Sequence[float]) -> float | None:
    """Herfindahl-Hirschman index: the sum of squared shares (1 = everything in one)."""
    return finite(sum(s * s for s in shares)) if shares else None

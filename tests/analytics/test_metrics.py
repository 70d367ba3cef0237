"""The ratio metrics over daily series: defined values, and None where they are undefined."""

from __future__ import annotations

import math
from datetime import date

import pytest

from core_server.analytics import metrics


def test_daily_returns_fill_quiet_days_and_compound_the_balance() -> None:
    returns = metrics.daily_returns(
        1000, {date(2024, 1, 1): -100, date(2024, 1, 3): 90}, date(2024, 1, 1), date(2024, 1, 4)
    )
    assert returns == pytest.approx([-0.1, 0.0, 0.1, 0.0])
    # A balance wiped out makes the following returns undefined.
    assert (
        metrics.daily_returns(100, {date(2024, 1, 1): -100}, date(2024, 1, 1), date(2024, 1, 2))
        is None
    )


def test_ratios_on_a_known_series() -> None:
    returns = [0.01, -0.02, 0.03, 0.0]
    mean = 0.005
    std = math.sqrt(((0.005) ** 2 + 0.025**2 + 0.025**2 + 0.005**2) / 4)
    assert metrics.sharpe(returns) == pytest.approx(mean / std * math.sqrt(365))
    assert metrics.sortino(returns) == pytest.approx(mean / math.sqrt(0.02**2 / 4) * math.sqrt(365))
    assert metrics.calmar(returns, 0.04) == pytest.approx(mean * 365 / 0.04)
    # Sorted: -0.02, 0, 0.01, 0.03; the 5th percentile is 15 % of the way from the 1st to the 2nd.
    assert metrics.value_at_risk_95(returns) == pytest.approx(0.02 * 0.85)
    assert metrics.cagr(1000, 1100, 365) == pytest.approx(0.1)
    assert metrics.cagr(1000, 1100, 182.5) == pytest.approx(0.21)
    assert metrics.hhi([0.5, 0.5]) == pytest.approx(0.5)


def test_undefined_figures_are_none_never_nan_or_inf() -> None:
    assert metrics.sharpe([0.01]) is None  # one day
    assert metrics.sharpe([0.01, 0.01]) is None  # no variation
    assert metrics.sortino([0.01, 0.02]) is None  # no losing day
    assert metrics.calmar([0.01, 0.02], 0.0) is None  # no drawdown
    assert metrics.calmar([], 0.1) is None
    assert metrics.value_at_risk_95([0.01]) is None
    assert metrics.cagr(0, 100, 10) is None  # no capital
    assert metrics.cagr(100, -5, 10) is None  # more than all lost
    assert metrics.cagr(1, 1e12, 1) is None  # overflows
    assert metrics.ratio(1, 0) is None
    assert metrics.hhi([]) is None

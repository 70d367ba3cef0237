"""Fixtures for the market simulator: one fixed "now" so every test sees the same market."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core_server.simulator import Market, SimulatorConfig

# A fixed instant in the middle of a minute, so the candle in progress is partly formed.
NOW_MS = int(datetime(2026, 6, 15, 12, 34, 56, 789_000, tzinfo=UTC).timestamp() * 1000)
DAY_MS = 86_400_000


@pytest.fixture(scope="module")
def config() -> SimulatorConfig:
    return SimulatorConfig()


@pytest.fixture(scope="module")
def market(config: SimulatorConfig) -> Market:
    return Market.from_config(config)

"""Strategy code for the tests, and a helper to save it through the API."""

from __future__ import annotations

from typing import Any

import httpx

from tests.helpers import ActingUser, assert_ok

STRATEGIES = "/api/v1/strategies"


def strategy_code(name: str = "MyStrategy", *, rsi: int = 30, body: str = "") -> str:
    """A small strategy freqtrade loads; `rsi` changes its default, `body` adds class lines."""
    return f"""
from pandas import DataFrame

from freqtrade.strategy import DecimalParameter, IntParameter, IStrategy


class {name}(IStrategy):
    timeframe = "5m"
    minimal_roi = {{"0": 0.01}}
    stoploss = -0.1

    buy_rsi = IntParameter(10, 40, default={rsi}, space="buy")
    sell_gain = DecimalParameter(0.001, 0.05, default=0.01, decimals=3)
{body}
    def populate_indicators(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        return dataframe

    def populate_entry_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe["enter_long"] = 0
        return dataframe

    def populate_exit_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe["exit_long"] = 0
        return dataframe
"""


async def save(
    client: httpx.AsyncClient, user: ActingUser, name: str = "MyStrategy", **extra: Any
) -> Any:
    body = {"name": name, "code": strategy_code(name), **extra}
    return assert_ok(await client.post(STRATEGIES, json=body, headers=user.headers), 201)

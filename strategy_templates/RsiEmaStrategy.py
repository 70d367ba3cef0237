"""RSI and EMA trend-following: buy when the fast EMA crosses above the slow one while RSI is
not yet overbought, sell when RSI runs high or the trend turns.

A template of the Freqtrade Multi-Bot System. It trades often on 5-minute candles, so a dry-run
bot or a short backtest on the market simulator shows trades quickly. Tune it with hyperopt
(the buy and sell spaces).
"""

# mypy: ignore-errors
# (freqtrade checks this file: its packages live in freqtrade's environment, not the server's.)
from __future__ import annotations

import talib.abstract as ta
from freqtrade.strategy import IntParameter, IStrategy
from pandas import DataFrame


class RsiEmaStrategy(IStrategy):
    INTERFACE_VERSION = 3

    timeframe = "5m"
    can_short = False
    # Take small profits soon; a trade open for two hours closes at break-even or better.
    minimal_roi = {"0": 0.015, "30": 0.008, "120": 0}
    stoploss = -0.04
    trailing_stop = False
    process_only_new_candles = True
    startup_candle_count = 60

    buy_rsi = IntParameter(45, 80, default=65, space="buy")
    buy_ema_fast = IntParameter(5, 20, default=9, space="buy")
    buy_ema_slow = IntParameter(21, 60, default=26, space="buy")
    sell_rsi = IntParameter(60, 90, default=75, space="sell")

    def populate_indicators(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe["rsi"] = ta.RSI(dataframe, timeperiod=14)
        # Every length hyperopt may try is computed once, so each epoch only picks columns.
        for length in range(self.buy_ema_fast.low, self.buy_ema_slow.high + 1):
            dataframe[f"ema_{length}"] = ta.EMA(dataframe, timeperiod=length)
        return dataframe

    def populate_entry_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        fast = dataframe[f"ema_{self.buy_ema_fast.value}"]
        slow = dataframe[f"ema_{self.buy_ema_slow.value}"]
        crossed_up = (fast > slow) & (fast.shift(1) <= slow.shift(1))
        dataframe.loc[
            crossed_up & (dataframe["rsi"] < self.buy_rsi.value) & (dataframe["volume"] > 0),
            ["enter_long", "enter_tag"],
        ] = (1, "ema_cross_up")
        return dataframe

    def populate_exit_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        fast = dataframe[f"ema_{self.buy_ema_fast.value}"]
        slow = dataframe[f"ema_{self.buy_ema_slow.value}"]
        dataframe.loc[
            ((dataframe["rsi"] > self.sell_rsi.value) | (fast < slow)) & (dataframe["volume"] > 0),
            ["exit_long", "exit_tag"],
        ] = (1, "momentum_spent")
        return dataframe

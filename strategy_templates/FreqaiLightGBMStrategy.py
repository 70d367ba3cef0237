"""FreqAI with a small LightGBM regressor: predict the mean return of the next candles, enter long
when the prediction clears a threshold.

A template of the Freqtrade Multi-Bot System, kept small so it trains in seconds on a CPU: few
features, one timeframe, no correlated pairs, a short training window. It needs FreqAI in
freqtrade's environment (lightgbm, scikit-learn, datasieve) and this block in the run's config
(the template's `config`, which the system adds to backtests and bots that use it):

    "freqaimodel": "LightGBMRegressor",
    "freqai": {"enabled": true, "identifier": "multibot-lightgbm", "train_period_days": 3,
               "backtest_period_days": 1, "activate_tensorboard": false,
               "feature_parameters": {"include_timeframes": ["5m"], "include_corr_pairlist": [],
                                      "label_period_candles": 12, "include_shifted_candles": 1,
                                      "indicator_periods_candles": [10, 20]},
               "data_split_parameters": {"test_size": 0.25, "shuffle": false},
               "model_training_parameters": {"n_estimators": 60, "learning_rate": 0.1,
                                             "num_leaves": 15, "n_jobs": 1, "verbose": -1}}

A backtest also needs `train_period_days` of candles before its timerange starts.
"""

# mypy: ignore-errors
# (freqtrade checks this file: its packages live in freqtrade's environment, not the server's.)
from __future__ import annotations

import talib.abstract as ta
from freqtrade.strategy import DecimalParameter, IStrategy
from pandas import DataFrame


class FreqaiLightGBMStrategy(IStrategy):
    INTERFACE_VERSION = 3

    timeframe = "5m"
    can_short = False
    minimal_roi = {"0": 0.02, "60": 0.01, "180": 0}
    stoploss = -0.05
    process_only_new_candles = True
    use_exit_signal = True
    # The longest indicator period the features use (indicator_periods_candles).
    startup_candle_count = 40

    buy_threshold = DecimalParameter(0.0005, 0.01, default=0.002, decimals=4, space="buy")
    sell_threshold = DecimalParameter(-0.01, 0.0, default=-0.001, decimals=4, space="sell")

    def feature_engineering_expand_all(
        self, dataframe: DataFrame, period: int, metadata: dict, **kwargs
    ) -> DataFrame:
        # Made for every period in indicator_periods_candles; FreqAI uses columns starting "%".
        dataframe["%-rsi-period"] = ta.RSI(dataframe, timeperiod=period)
        dataframe["%-roc-period"] = ta.ROC(dataframe, timeperiod=period)
        dataframe["%-ema-ratio-period"] = dataframe["close"] / ta.EMA(dataframe, timeperiod=period)
        dataframe["%-relative-volume-period"] = (
            dataframe["volume"] / dataframe["volume"].rolling(period).mean()
        )
        return dataframe

    def feature_engineering_expand_basic(
        self, dataframe: DataFrame, metadata: dict, **kwargs
    ) -> DataFrame:
        dataframe["%-pct-change"] = dataframe["close"].pct_change()
        dataframe["%-range"] = (dataframe["high"] - dataframe["low"]) / dataframe["close"]
        return dataframe

    def feature_engineering_standard(
        self, dataframe: DataFrame, metadata: dict, **kwargs
    ) -> DataFrame:
        dataframe["%-hour_of_day"] = dataframe["date"].dt.hour
        return dataframe

    def set_freqai_targets(self, dataframe: DataFrame, metadata: dict, **kwargs) -> DataFrame:
        # The target, named with "&": the mean return over the next label_period_candles.
        horizon = self.freqai_info["feature_parameters"]["label_period_candles"]
        dataframe["&-mean_return"] = (
            dataframe["close"].shift(-horizon).rolling(horizon).mean() / dataframe["close"] - 1
        )
        return dataframe

    def populate_indicators(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        # Trains (or reuses) the model and adds its prediction and `do_predict` to the frame.
        return self.freqai.start(dataframe, metadata, self)

    def populate_entry_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe.loc[
            (dataframe["do_predict"] == 1)
            & (dataframe["&-mean_return"] > self.buy_threshold.value)
            & (dataframe["volume"] > 0),
            ["enter_long", "enter_tag"],
        ] = (1, "predicted_rise")
        return dataframe

    def populate_exit_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe.loc[
            (dataframe["do_predict"] == 1)
            & (dataframe["&-mean_return"] < self.sell_threshold.value),
            ["exit_long", "exit_tag"],
        ] = (1, "predicted_fall")
        return dataframe

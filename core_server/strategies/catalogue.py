"""Our own strategy templates, shipped in strategy_templates/ at the top of the repository (not
in this package: they are freqtrade code, which the server never imports). Users copy one into
their library and make it theirs; freqtrade's SampleStrategy stays available to bots as before."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from core_server.freqtrade.commands import PROJECT_ROOT

TEMPLATES_DIR = PROJECT_ROOT / "strategy_templates"

FREQAI_LIGHTGBM_CONFIG: dict[str, Any] = {
    "freqaimodel": "LightGBMRegressor",
    "freqai": {
        "enabled": True,
        "identifier": "multibot-lightgbm",
        "purge_old_models": 2,
        "train_period_days": 3,
        "backtest_period_days": 1,
        "activate_tensorboard": False,
        "feature_parameters": {
            "include_timeframes": ["5m"],
            "include_corr_pairlist": [],
            "label_period_candles": 12,
            "include_shifted_candles": 1,
            "indicator_periods_candles": [10, 20],
            "DI_threshold": 0,
            "weight_factor": 0,
        },
        "data_split_parameters": {"test_size": 0.25, "shuffle": False},
        "model_training_parameters": {
            "n_estimators": 60,
            "learning_rate": 0.1,
            "num_leaves": 15,
            "n_jobs": 1,
            "verbose": -1,
        },
    },
}


@dataclass(frozen=True)
class Template:
    name: str
    title: str
    description: str
    tags: tuple[str, ...]
    timeframe: str
    # freqtrade config a run of this strategy needs besides the usual (FreqAI's block).
    config: dict[str, Any] = field(default_factory=dict)
    # Python packages freqtrade's environment needs for it, beyond freqtrade itself.
    requires: tuple[str, ...] = ()

    @property
    def path(self) -> Path:
        return TEMPLATES_DIR / f"{self.name}.py"

    @property
    def code(self) -> str:
        return _code(self.name)


@cache
def _code(name: str) -> str:
    return (TEMPLATES_DIR / f"{name}.py").read_text(encoding="utf-8")


TEMPLATES: dict[str, Template] = {
    template.name: template
    for template in (
        Template(
            name="RsiEmaStrategy",
            title="EMA crossover with an RSI filter",
            description=(
                "Buys when the fast EMA crosses above the slow one while RSI is below buy_rsi, "
                "sells when RSI passes sell_rsi or the trend turns. Trades often on 5m candles "
                "(about 6 trades a day per pair on the simulator), so bots and short backtests "
                "show trades quickly. Hyperoptable: buy_rsi, buy_ema_fast, buy_ema_slow, sell_rsi."
            ),
            tags=("template", "rsi", "ema", "trend"),
            timeframe="5m",
        ),
        Template(
            name="FreqaiLightGBMStrategy",
            title="FreqAI with a small LightGBM regressor",
            description=(
                "Predicts the mean return of the next hour with a LightGBM model FreqAI trains on "
                "a few RSI, rate-of-change and volume features; enters long when the prediction "
                "clears buy_threshold. Small enough to train in seconds on a CPU. Runs need the "
                "template's `config` (the freqai block) and candles for train_period_days before "
                "the backtest's timerange."
            ),
            tags=("template", "freqai", "machine-learning", "lightgbm"),
            timeframe="5m",
            config=FREQAI_LIGHTGBM_CONFIG,
            requires=("lightgbm", "scikit-learn", "datasieve"),
        ),
    )
}

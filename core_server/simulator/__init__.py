"""The market simulator: Binance's public spot REST API over a seeded random market or replayed
freqtrade candle files, so real freqtrade bots trade (dry-run), download data and backtest
offline. See `market` for the price model and `replay` for files."""

from core_server.simulator.app import BinanceError, create_simulator_app
from core_server.simulator.config import (
    DEFAULT_PAIRS,
    PairSpec,
    SimulatorConfig,
    ccxt_overrides,
)
from core_server.simulator.market import Market
from core_server.simulator.replay import ReplayError
from core_server.simulator.server import SimulatorServer

__all__ = [
    "DEFAULT_PAIRS",
    "BinanceError",
    "Market",
    "PairSpec",
    "ReplayError",
    "SimulatorConfig",
    "SimulatorServer",
    "ccxt_overrides",
    "create_simulator_app",
]

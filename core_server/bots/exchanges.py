"""The `exchange` block of a bot's freqtrade config."""

from __future__ import annotations

from typing import Any

from core_server.bots.schemas import SIMULATOR
from core_server.simulator.config import ccxt_overrides


def exchange_block(exchange: str, simulator_url: str) -> dict[str, Any]:
    if exchange == SIMULATOR:
        return ccxt_overrides(simulator_url)
    return {"name": exchange}

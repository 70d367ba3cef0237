"""The `exchange` block of a bot's freqtrade config."""

from __future__ import annotations

from typing import Any

from core_server.bots.schemas import SIMULATOR


def simulator_block(simulator_url: str) -> dict[str, Any]:
    """Points freqtrade's binance at our simulator (DESIGN.md, decision 3): ccxt's URLs for
    every Binance API family, spot markets only (else ccxt asks other hosts for futures), and
    no websockets (the simulator speaks REST)."""
    base = simulator_url.rstrip("/")
    urls = {
        "api": {
            "public": f"{base}/api/v3",
            "private": f"{base}/api/v3",
            "sapi": f"{base}/sapi/v1",
            "v1": f"{base}/api/v1",
        }
    }
    ccxt = {"urls": urls, "options": {"fetchMarkets": {"types": ["spot"]}}}
    return {"name": "binance", "ccxt_config": ccxt, "ccxt_async_config": ccxt, "enable_ws": False}


def exchange_block(exchange: str, simulator_url: str) -> dict[str, Any]:
    if exchange == SIMULATOR:
        return simulator_block(simulator_url)
    return {"name": exchange}

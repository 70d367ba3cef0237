"""Running the simulator: embedded in an event loop, as `multibot simulator`, and the freqtrade
exchange block that points a bot at it."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from core_server.simulator import SimulatorConfig, SimulatorServer, ccxt_overrides
from core_server.simulator.config import PairSpec
from tests.processes import clean_env, run_cli


async def test_the_embedded_server_listens_on_a_free_port_and_releases_it() -> None:
    simulator = SimulatorServer(SimulatorConfig(port=0, pairs=("BTC/USDT",)))
    async with simulator:
        assert simulator.port > 0
        assert simulator.base_url == f"http://127.0.0.1:{simulator.port}"
        async with httpx.AsyncClient(base_url=simulator.base_url) as client:
            assert (await client.get("/api/v3/ping")).json() == {}
            prices = (await client.get("/api/v3/ticker/price")).json()
        assert [p["symbol"] for p in prices] == ["BTCUSDT"]
    with socket.socket() as probe:  # the port is free again
        probe.bind(("127.0.0.1", simulator.port))
    await simulator.stop()  # a second stop is harmless


async def test_a_taken_port_fails_at_start_instead_of_exiting_the_process() -> None:
    """A second server process on the machine finds the simulator's port taken by the first."""
    async with SimulatorServer(SimulatorConfig(port=0)) as first:
        second = SimulatorServer(SimulatorConfig(port=first.port))
        with pytest.raises(OSError):
            await second.start()
        await second.stop()
        async with httpx.AsyncClient(base_url=first.base_url) as client:
            assert (await client.get("/api/v3/ping")).status_code == 200


def test_the_freqtrade_exchange_block_points_every_ccxt_url_at_the_simulator() -> None:
    block = ccxt_overrides("http://127.0.0.1:8100/")
    assert block["name"] == "binance"
    assert block["enable_ws"] is False
    assert block["only_from_ccxt"] is True
    for key in ("ccxt_config", "ccxt_async_config"):
        ccxt = block[key]
        assert ccxt["options"] == {"fetchMarkets": {"types": ["spot"]}}
        urls = ccxt["urls"]["api"]
        assert urls["public"] == "http://127.0.0.1:8100/api/v3"
        assert urls["v1"] == "http://127.0.0.1:8100/api/v1"
        assert urls["sapi"] == "http://127.0.0.1:8100/sapi/v1"
        assert all(url.startswith("http://127.0.0.1:8100/") for url in urls.values())
    assert block["ccxt_config"] is not block["ccxt_async_config"]


def test_config_reads_a_comma_separated_pair_list_and_refuses_bad_pairs() -> None:
    config = SimulatorConfig.model_validate({"pairs": " BTC/USDT, SOL/BTC ,"})
    assert config.pairs == ("BTC/USDT", "SOL/BTC")
    for bad in ("BTCUSDT", "btc/usdt", "BTC/USDT,BTC/USDT", "BTC-USDT"):
        with pytest.raises(ValidationError):
            SimulatorConfig.model_validate({"pairs": bad})
    with pytest.raises(ValidationError, match="midnight"):
        SimulatorConfig.model_validate({"history_start": "2021-03-04T05:00:00Z"})


def test_generic_pairs_get_precision_for_their_price() -> None:
    spec = PairSpec.for_symbol("NEW/BTC")
    assert spec.base_price == 0.001 and spec.price_decimals == 8
    assert PairSpec.for_symbol("NEW/USDC").price_decimals == 4  # 10.0000


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--pairs", "BTC-USDT"], "pairs"),
        (["--replay-dir", "/nonexistent/candles"], "does not exist"),
    ],
)
def test_the_cli_refuses_bad_settings_without_a_traceback(
    tmp_path: Path, args: list[str], message: str
) -> None:
    result = run_cli(["simulator", "--port", "1", *args], env=clean_env(), cwd=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert message in output and "Traceback" not in output

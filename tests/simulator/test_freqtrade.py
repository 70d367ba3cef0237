"""Real freqtrade against the simulator, served by `multibot simulator` on a loopback port:
`download-data` stores exactly the simulator's candles, and a dry-run bot starts, answers its
API and opens a trade at the simulator's price."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from core_server.simulator import Market, SimulatorConfig, ccxt_overrides
from core_server.simulator.candles import TIMEFRAMES
from core_server.simulator.replay import load_ohlcv_file
from tests.processes import MULTIBOT, ServerPool, ServerProcess, clean_env, free_port

FREQTRADE = Path(
    os.environ.get("FREQTRADE_BIN", Path(__file__).parents[2] / ".freqtrade/bin/freqtrade")
)
REQUIRED = os.environ.get("MULTIBOT_REQUIRE_SERVICES") == "1"
pytestmark = [
    pytest.mark.freqtrade,
    pytest.mark.skipif(
        not FREQTRADE.exists() and not REQUIRED, reason=f"no freqtrade at {FREQTRADE}"
    ),
]

CONFIG = SimulatorConfig(seed=1234, pairs=("BTC/USDT", "ETH/USDT", "SOL/USDT"))
START_TIMEOUT = 90.0
STOP_TIMEOUT = 20.0
API_USER, API_PASSWORD = "probe", "probe-password-for-tests"
ACCESS_LINE = re.compile(r'"(?P<method>[A-Z]+) (?P<path>\S+) HTTP/[\d.]+" (?P<status>\d{3})')

STRATEGY = '''
from pandas import DataFrame

from freqtrade.strategy import IStrategy


class SimulatorProbe(IStrategy):
    """Never enters by itself; the test enters with /forceenter."""

    INTERFACE_VERSION = 3
    timeframe = "5m"
    minimal_roi = {"0": 100.0}
    stoploss = -0.99
    startup_candle_count = 0

    def populate_indicators(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        return dataframe

    def populate_entry_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe["enter_long"] = 0
        return dataframe

    def populate_exit_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe["exit_long"] = 0
        return dataframe
'''


@pytest.fixture(scope="module")
def simulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """`multibot simulator` in its own process, with uvicorn's access log in its output."""
    work_dir = tmp_path_factory.mktemp("simulator")
    port = free_port()
    command = [
        MULTIBOT, "simulator", "--host", "127.0.0.1", "--port", str(port),
        "--seed", str(CONFIG.seed), "--pairs", ",".join(CONFIG.pairs),
    ]  # fmt: skip
    with ServerPool(work_dir) as pool:
        server = pool.spawn(command, env=clean_env(), base_url=f"http://127.0.0.1:{port}")
        server.wait_healthy(path="/simulator/status")
        yield server


@pytest.fixture(scope="module")
def market() -> Market:
    """The same market, computed in this process: same seed, same candles."""
    return Market.from_config(CONFIG)


def requests_since(server: ServerProcess, offset: int) -> list[tuple[str, str, int]]:
    """(method, path, status) of the simulator's access log lines after `offset` characters."""
    return [
        (m["method"], m["path"], int(m["status"]))
        for m in ACCESS_LINE.finditer(server.log()[offset:])
    ]


def user_dir(tmp_path: Path) -> Path:
    path = tmp_path / "user_data"
    path.mkdir()
    return path


def write_config(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(json.dumps(config, indent=2))
    return path


def test_download_data_stores_the_simulators_candles(
    simulator: ServerProcess, market: Market, tmp_path: Path, record_property: Any
) -> None:
    log_offset = len(simulator.log())
    end = int(time.time()) // 300 * 300 - 3600
    start = end - 3 * 86_400
    config = write_config(
        tmp_path / "config.json",
        {
            "exchange": {**ccxt_overrides(simulator.base_url), "pair_whitelist": []},
            "stake_currency": "USDT",
            "dry_run": True,
            "trading_mode": "spot",
            "pairlists": [{"method": "StaticPairList"}],
        },
    )
    data_dir = tmp_path / "data"
    command = [
        str(FREQTRADE), "download-data", "--exchange", "binance",
        "--pairs", "BTC/USDT", "ETH/USDT", "--timeframes", "5m",
        "--timerange", f"{start}-{end}", "-c", str(config),
        "--userdir", str(user_dir(tmp_path)), "--datadir", str(data_dir),
    ]  # fmt: skip
    started = time.monotonic()
    result = subprocess.run(  # noqa: S603 - the pinned freqtrade, arguments from the test
        command, env=clean_env(), cwd=tmp_path, capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    record_property("download_data_seconds", round(time.monotonic() - started, 2))
    assert result.returncode == 0, result.stdout + result.stderr

    # Freqtrade stores every complete candle from the start on: when the range fits into one
    # request (1000 candles) it asks with startTime only and keeps what comes, up to now.
    for pair in ("BTC/USDT", "ETH/USDT"):
        stored = load_ohlcv_file(data_dir / f"{pair.replace('/', '_')}-5m.feather")
        assert stored.open_time[0] == start * 1000
        assert stored.open_time[-1] >= end * 1000 - 300_000
        served = market.klines(
            pair.replace("/", ""), TIMEFRAMES["5m"], start_ms=start * 1000,
            end_ms=int(stored.open_time[-1]), limit=1000, now_ms=int(time.time() * 1000),
        )  # fmt: skip
        np.testing.assert_array_equal(stored.open_time, served.open_time)
        for column in ("open", "high", "low", "close", "volume"):
            np.testing.assert_array_equal(getattr(stored, column), getattr(served, column))

    calls = requests_since(simulator, log_offset)
    assert ("GET", "/api/v3/exchangeInfo", 200) in calls
    klines = [path for _, path, _ in calls if path.startswith("/api/v3/klines")]
    assert any(f"startTime={start * 1000}" in path for path in klines)
    assert all(status == 200 for _, _, status in calls), calls


def test_a_dry_run_bot_opens_a_trade_at_the_simulators_price(
    simulator: ServerProcess, market: Market, tmp_path: Path, record_property: Any
) -> None:
    log_offset = len(simulator.log())
    strategies = tmp_path / "strategies"
    strategies.mkdir()
    (strategies / "simulator_probe.py").write_text(STRATEGY)
    api_port = free_port()
    config = write_config(
        tmp_path / "config.json",
        {
            "bot_name": "simulator-probe",
            "dry_run": True,
            "dry_run_wallet": 1000,
            "trading_mode": "spot",
            "stake_currency": "USDT",
            "stake_amount": 100,
            "max_open_trades": 3,
            "timeframe": "5m",
            "initial_state": "running",
            "force_entry_enable": True,
            "exchange": {
                **ccxt_overrides(simulator.base_url),
                "pair_whitelist": ["BTC/USDT", "ETH/USDT"],
            },
            # Buy at the ask, so the dry-run order fills at once.
            "entry_pricing": {"price_side": "other", "use_order_book": True, "order_book_top": 1},
            "exit_pricing": {"price_side": "other", "use_order_book": True, "order_book_top": 1},
            "pairlists": [{"method": "StaticPairList"}],
            "api_server": {
                "enabled": True,
                "listen_ip_address": "127.0.0.1",
                "listen_port": api_port,
                "username": API_USER,
                "password": API_PASSWORD,
                "jwt_secret_key": "simulator-probe-jwt-secret-" + "j" * 32,
                "ws_token": "simulator-probe-ws-token-" + "w" * 32,
                "CORS_origins": [],
            },
            "strategy": "SimulatorProbe",
            "strategy_path": str(strategies),
            "db_url": f"sqlite:///{tmp_path / 'trades.sqlite'}",
            "internals": {"process_throttle_secs": 5},
        },
    )
    command = [str(FREQTRADE), "trade", "-c", str(config), "--userdir", str(user_dir(tmp_path))]
    log_path = tmp_path / "freqtrade.log"
    with log_path.open("wb") as log:
        started = time.monotonic()
        bot = subprocess.Popen(  # noqa: S603 - the pinned freqtrade, arguments from the test
            command, env=clean_env(), cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            with httpx.Client(
                base_url=f"http://127.0.0.1:{api_port}/api/v1",
                auth=(API_USER, API_PASSWORD),
                timeout=10.0,
            ) as api:
                wait_for_ping(api, bot, log_path)
                record_property(
                    "freqtrade_start_to_ping_seconds", round(time.monotonic() - started, 2)
                )
                candles = wait_for_candles(api, bot, log_path)

                entered = api.post("/forceenter", json={"pair": "BTC/USDT", "side": "long"})
                assert entered.status_code == 200, entered.text
                trades = api.get("/status").json()
        finally:
            stop(bot)

    assert [t["pair"] for t in trades] == ["BTC/USDT"]
    trade = trades[0]
    assert trade["is_open"] and trade["trade_id"] == entered.json()["trade_id"]
    # Bought at the ask of the order book the bot fetched just before the trade opened.
    ask = market.book("BTCUSDT", 1, trade["open_timestamp"]).asks[0][0]
    assert trade["open_rate"] == pytest.approx(ask, rel=0.002)
    assert trade["open_rate"] == pytest.approx(
        market.price("BTCUSDT", trade["open_timestamp"]), rel=0.002
    )

    # The bot analyses exactly the simulator's candles (complete ones: it drops the last).
    columns, rows = candles["columns"], candles["data"]
    times = [row[columns.index("__date_ts")] for row in rows]
    served = market.klines(
        "BTCUSDT", TIMEFRAMES["5m"], start_ms=times[0], end_ms=times[-1], limit=1000,
        now_ms=int(time.time() * 1000),
    )  # fmt: skip
    assert served.open_time.tolist() == times
    for name in ("open", "high", "low", "close", "volume"):
        assert getattr(served, name).tolist() == [row[columns.index(name)] for row in rows]

    calls = requests_since(simulator, log_offset)
    paths = {path.split("?")[0] for _, path, _ in calls}
    assert {"/api/v3/exchangeInfo", "/api/v3/time", "/api/v3/klines", "/api/v3/depth"} <= paths
    assert all(status == 200 for _, _, status in calls), calls


def wait_for_ping(api: httpx.Client, bot: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if bot.poll() is not None:
            pytest.fail(f"freqtrade exited with {bot.returncode}:\n{log_path.read_text()}")
        try:
            if api.get("/ping").json() == {"status": "pong"}:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    pytest.fail(f"freqtrade's API did not answer in {START_TIMEOUT:.0f} s:\n{log_path.read_text()}")


def wait_for_candles(
    api: httpx.Client, bot: subprocess.Popen[bytes], log_path: Path
) -> dict[str, Any]:
    """The bot's analysed BTC/USDT candles, once its first loop has fetched them."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if bot.poll() is not None:
            pytest.fail(f"freqtrade exited with {bot.returncode}:\n{log_path.read_text()}")
        response = api.get("/pair_candles", params={"pair": "BTC/USDT", "timeframe": "5m"})
        if response.status_code == 200 and response.json()["length"] > 0:
            candles: dict[str, Any] = response.json()
            return candles
        time.sleep(0.25)
    pytest.fail(f"freqtrade analysed no candles in {START_TIMEOUT:.0f} s:\n{log_path.read_text()}")


def stop(bot: subprocess.Popen[bytes]) -> None:
    """SIGTERM, and SIGKILL when freqtrade has not stopped after STOP_TIMEOUT."""
    if bot.poll() is None:
        bot.send_signal(signal.SIGTERM)
        try:
            bot.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            bot.kill()
            bot.wait(timeout=STOP_TIMEOUT)

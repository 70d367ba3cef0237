"""Record a real freqtrade bot's REST answers and message-websocket messages as fixtures.

It starts the market simulator (`multibot simulator`) and a real, unmodified freqtrade dry-run
bot against it (the pinned one in .freqtrade/, driven through its CLI, never imported), logs in,
subscribes to the bot's message websocket, forces a trade in and out through the REST API, and
saves what the bot answered into benchmarks/fixtures/freqtrade_*.json:

    freqtrade_token_login.json    POST /api/v1/token/login (tokens replaced by placeholders)
    freqtrade_show_config.json    GET  /api/v1/show_config
    freqtrade_status.json         GET  /api/v1/status       (one open trade)
    freqtrade_profit.json         GET  /api/v1/profit       (after the trade closed)
    freqtrade_balance.json        GET  /api/v1/balance
    freqtrade_trades.json         GET  /api/v1/trades       (the closed trade)
    freqtrade_ws_messages.json    entry, entry_fill, exit, exit_fill as pushed on the websocket
    freqtrade_recording.json      freqtrade's version, when and how this was recorded

The stand-in bots of benchmarks/fleet_scale.py serve these shapes. Run it again after changing
the pinned freqtrade version:

    .venv/bin/python benchmarks/record_freqtrade.py
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import websockets

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
DEFAULT_FREQTRADE = REPO_ROOT / ".freqtrade" / "bin" / "freqtrade"
LOOPBACK = "127.0.0.1"
PAIRS = ("BTC/USDT", "ETH/USDT", "SOL/USDT")
API_USER = "recorder"
START_TIMEOUT_SECONDS = 120.0
STEP_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 20.0
TRADE_MESSAGES = ("entry", "entry_fill", "exit", "exit_fill")

STRATEGY = '''
from pandas import DataFrame

from freqtrade.strategy import IStrategy


class FixtureRecorder(IStrategy):
    """Never trades by itself; the recorder forces a trade in and out."""

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


class RecordingFailed(Exception):
    pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


def clean_env() -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")
    env = {name: os.environ[name] for name in keep if name in os.environ}
    return env | {"PYTHONUNBUFFERED": "1"}


def tail(path: Path, lines: int = 40) -> str:
    text = path.read_text(errors="replace") if path.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


@contextmanager
def process(command: list[str], cwd: Path, log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A child process in its own session, stopped with SIGTERM (then SIGKILL) on the way out."""
    with log_path.open("wb") as log:
        child = subprocess.Popen(  # noqa: S603 - our own fixed command lines
            command,
            cwd=cwd,
            env=clean_env(),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield child
        finally:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
                try:
                    child.wait(timeout=STOP_TIMEOUT_SECONDS)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()


def wait_for(
    what: str, probe: Any, child: subprocess.Popen[bytes], log_path: Path, timeout: float
) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise RecordingFailed(f"{what}: the process exited:\n{tail(log_path)}")
        try:
            result = probe()
        except httpx.HTTPError:
            result = None
        if result:
            return result
        time.sleep(0.25)
    raise RecordingFailed(f"{what}: timed out after {timeout:.0f} s:\n{tail(log_path)}")


def bot_config(workdir: Path, simulator_url: str, api_port: int, password: str) -> Path:
    # Our own helper for the simulator's ccxt overrides (see FREQTRADE.md, "Offline").
    sys.path.insert(0, str(REPO_ROOT))
    from core_server.simulator import ccxt_overrides

    strategies = workdir / "strategies"
    strategies.mkdir()
    (strategies / "fixture_recorder.py").write_text(STRATEGY)
    config = {
        "bot_name": "fixture-recorder",
        "dry_run": True,
        "dry_run_wallet": 1000,
        "trading_mode": "spot",
        "stake_currency": "USDT",
        "stake_amount": 100,
        "max_open_trades": 3,
        "timeframe": "5m",
        "initial_state": "running",
        "force_entry_enable": True,
        "exchange": {**ccxt_overrides(simulator_url), "pair_whitelist": list(PAIRS)},
        # Market orders at the other side of the book: dry-run fills them at once.
        "entry_pricing": {"price_side": "other", "use_order_book": True, "order_book_top": 1},
        "exit_pricing": {"price_side": "other", "use_order_book": True, "order_book_top": 1},
        "pairlists": [{"method": "StaticPairList"}],
        "api_server": {
            "enabled": True,
            "listen_ip_address": LOOPBACK,
            "listen_port": api_port,
            "username": API_USER,
            "password": password,
            "jwt_secret_key": secrets.token_hex(32),
            "ws_token": secrets.token_hex(32),
            "CORS_origins": [],
        },
        "strategy": "FixtureRecorder",
        "strategy_path": str(strategies),
        "db_url": f"sqlite:///{workdir / 'trades.sqlite'}",
        "internals": {"process_throttle_secs": 5},
    }
    path = workdir / "config.json"
    path.write_text(json.dumps(config, indent=2))
    return path


class MessageLog:
    """The bot's message websocket, read in the background."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    async def read(self, url: str) -> None:
        async with websockets.connect(url, open_timeout=10) as ws:
            await ws.send(json.dumps({"type": "subscribe", "data": list(TRADE_MESSAGES)}))
            async for raw in ws:
                self.messages.append(json.loads(raw))

    async def wait_for(self, kind: str, trade_id: int) -> dict[str, Any]:
        deadline = time.monotonic() + STEP_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            for message in self.messages:
                # freqtrade pushes trade messages flat: {"type": "entry", "trade_id": 1, ...}
                if message.get("type") == kind and message.get("trade_id") == trade_id:
                    return message
            await asyncio.sleep(0.1)
        seen = [m.get("type") for m in self.messages]
        raise RecordingFailed(f"no {kind} message for trade {trade_id} (seen: {seen})")


async def wait_trade(api: httpx.AsyncClient, trade_id: int, *, is_open: bool) -> dict[str, Any]:
    """The trade once its order filled (open) or once it closed."""
    deadline = time.monotonic() + STEP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        trade = (await api.get(f"/trade/{trade_id}")).json()
        filled = trade.get("has_open_orders") is False
        if trade.get("is_open") is is_open and filled:
            return dict(trade)
        await asyncio.sleep(0.5)
    raise RecordingFailed(f"trade {trade_id} did not become {'open' if is_open else 'closed'}")


def placeholders(login: dict[str, Any]) -> dict[str, Any]:
    """The login answer's shape without the (throw-away) tokens themselves."""
    return {key: f"<{key}: HS256 JWT>" if "token" in key else value for key, value in login.items()}


async def record(api_base: str, password: str) -> dict[str, Any]:
    fixtures: dict[str, Any] = {}
    async with httpx.AsyncClient(base_url=api_base, timeout=30.0) as anonymous:
        login = await anonymous.post("/token/login", auth=(API_USER, password))
        login.raise_for_status()
    tokens = login.json()
    fixtures["token_login"] = placeholders(tokens)
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    async with httpx.AsyncClient(base_url=api_base, headers=headers, timeout=30.0) as api:
        messages = MessageLog()
        ws_url = api_base.replace("http://", "ws://") + "/message/ws"
        reader = asyncio.create_task(messages.read(f"{ws_url}?token={tokens['access_token']}"))
        await asyncio.sleep(1.0)  # the subscription is in place before the trade starts

        entered = await api.post(
            "/forceenter", json={"pair": PAIRS[0], "side": "long", "ordertype": "market"}
        )
        if entered.status_code != 200:
            raise RecordingFailed(f"/forceenter answered {entered.status_code}: {entered.text}")
        trade_id = int(entered.json()["trade_id"])
        await wait_trade(api, trade_id, is_open=True)
        entry = await messages.wait_for("entry", trade_id)
        entry_fill = await messages.wait_for("entry_fill", trade_id)
        fixtures["status"] = (await api.get("/status")).json()
        fixtures["show_config"] = (await api.get("/show_config")).json()

        exited = await api.post(
            "/forceexit", json={"tradeid": str(trade_id), "ordertype": "market"}
        )
        if exited.status_code != 200:
            raise RecordingFailed(f"/forceexit answered {exited.status_code}: {exited.text}")
        await wait_trade(api, trade_id, is_open=False)
        exit_ = await messages.wait_for("exit", trade_id)
        exit_fill = await messages.wait_for("exit_fill", trade_id)
        fixtures["profit"] = (await api.get("/profit")).json()
        fixtures["balance"] = (await api.get("/balance")).json()
        fixtures["trades"] = (await api.get("/trades", params={"limit": 500})).json()
        fixtures["ws_messages"] = {
            "entry": entry,
            "entry_fill": entry_fill,
            "exit": exit_,
            "exit_fill": exit_fill,
        }
        fixtures["version"] = (await api.get("/version")).json()
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
    return fixtures


def run(freqtrade: Path, out_dir: Path, argv_used: Sequence[str]) -> dict[str, Any]:
    multibot = Path(sys.executable).with_name("multibot")
    with tempfile.TemporaryDirectory(prefix="multibot-record-") as tmp:
        workdir = Path(tmp)
        simulator_port = free_port()
        simulator_url = f"http://{LOOPBACK}:{simulator_port}"
        simulator_cmd = [
            str(multibot), "simulator", "--host", LOOPBACK, "--port", str(simulator_port),
            "--seed", "1234", "--pairs", ",".join(PAIRS),
        ]  # fmt: skip
        simulator_log = workdir / "simulator.log"
        with process(simulator_cmd, workdir, simulator_log) as simulator:
            wait_for(
                "the simulator",
                lambda: httpx.get(f"{simulator_url}/simulator/status").status_code == 200,
                simulator,
                simulator_log,
                START_TIMEOUT_SECONDS,
            )
            api_port = free_port()
            password = secrets.token_urlsafe(16)
            config = bot_config(workdir, simulator_url, api_port, password)
            user_dir = workdir / "user_data"
            user_dir.mkdir()
            command = [str(freqtrade), "trade", "-c", str(config), "--userdir", str(user_dir)]
            bot_log = workdir / "freqtrade.log"
            with process(command, workdir, bot_log) as bot:
                api_base = f"http://{LOOPBACK}:{api_port}/api/v1"
                print(f"freqtrade starting, API on {api_base}", file=sys.stderr)
                wait_for(
                    "freqtrade's API",
                    lambda: httpx.get(f"{api_base}/ping").status_code == 200,
                    bot,
                    bot_log,
                    START_TIMEOUT_SECONDS,
                )
                auth = (API_USER, password)
                wait_for(
                    "freqtrade's first analysed candles",
                    lambda: (
                        httpx.get(
                            f"{api_base}/pair_candles",
                            params={"pair": PAIRS[0], "timeframe": "5m"},
                            auth=auth,
                        )
                        .json()
                        .get("length", 0)
                        > 0
                    ),
                    bot,
                    bot_log,
                    START_TIMEOUT_SECONDS,
                )
                try:
                    fixtures = asyncio.run(record(api_base, password))
                except (RecordingFailed, httpx.HTTPError) as exc:
                    raise RecordingFailed(f"{exc}\nfreqtrade's log:\n{tail(bot_log)}") from exc
    out_dir.mkdir(parents=True, exist_ok=True)
    version = fixtures.pop("version")
    for name, value in fixtures.items():
        (out_dir / f"freqtrade_{name}.json").write_text(json.dumps(value, indent=2) + "\n")
    meta = {
        "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "freqtrade_version": version.get("version"),
        "command": shlex.join([".venv/bin/python", "benchmarks/record_freqtrade.py", *argv_used]),
        "how": "freqtrade trade (dry-run) against `multibot simulator --seed 1234`; "
        "POST /forceenter then POST /forceexit on BTC/USDT",
        "files": sorted(f"freqtrade_{name}.json" for name in fixtures),
    }
    (out_dir / "freqtrade_recording.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--freqtrade", type=Path, default=DEFAULT_FREQTRADE)
    parser.add_argument("--out", type=Path, default=FIXTURES, help="where to write the fixtures")
    args = parser.parse_args(argv)
    if not args.freqtrade.exists():
        print(f"error: no freqtrade at {args.freqtrade} (run `make install`)", file=sys.stderr)
        return 1
    try:
        meta = run(args.freqtrade, args.out, sys.argv[1:] if argv is None else argv)
    except RecordingFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(meta, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

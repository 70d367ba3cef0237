"""Many stand-in freqtrade bots in one process, for the fleet-scale benchmark.

Each stand-in speaks the part of freqtrade's REST API and message websocket that our server
uses (`/api/v1/token/login`, `/token/refresh`, `/show_config`, `/status`, `/profit`,
`/balance`, `/trades`, `/ping`, `/version`, and `ws://.../api/v1/message/ws?token=`), with answers
shaped exactly like the ones a real freqtrade 2026.9 bot gave, recorded by
benchmarks/record_freqtrade.py into benchmarks/fixtures/. Ids, pairs, prices, dates and
profits vary per bot and per trade.

Every bot opens a trade and closes it again, one half period later, forever, each at its own
random phase: at each step it changes its state first (as freqtrade's database does), then pushes
the recorded `entry` + `entry_fill` (or `exit` + `exit_fill`) messages to every subscribed
websocket and logs the wall-clock time it did so, so a benchmark can measure how long the trade
took to reach a client of our server.

One uvicorn server (httptools, uvloop, keep-alive 5 s: freqtrade's own uvicorn settings, without
its access log) serves every bot. `--layout ports` (default) gives each bot its own loopback port,
as a real fleet has, so our server keeps one connection pool entry and one websocket per bot;
`--layout prefix` serves every bot from one port under `/bot/<index>`.

A control API on `--control-port` serves `GET /control/bots` (index, api_url, username, password
of every bot), `GET /control/sent?since=<unix s>` (the trade messages sent) and
`GET /control/stats` (requests served per path, websocket connections, CPU), and
`GET /control/misbehave?bot=<index>&mode=garbage|hang|flap|normal` makes one bot answer with
non-JSON, never answer, or close its websocket every second (the collector's fault tests).

    .venv/bin/python benchmarks/standin_bots.py --bots 1000 --control-port 18999
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import bisect
import copy
import heapq
import json
import math
import random
import resource
import secrets
import signal
import socket
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import jwt
import uvicorn

FIXTURES = Path(__file__).resolve().parent / "fixtures"
LOOPBACK = "127.0.0.1"
PAIRS = {  # pair -> a typical price; each bot trades one pair near its own level
    "BTC/USDT": 71800.0,
    "ETH/USDT": 3900.0,
    "SOL/USDT": 180.0,
    "XRP/USDT": 2.4,
    "ADA/USDT": 0.95,
    "DOGE/USDT": 0.32,
}
STARTING_CAPITAL = 1000.0
STAKE = 100.0
FEE = 0.001
ACCESS_MINUTES = 15
MAX_TRADES_PAGE = 500
MODES = ("normal", "garbage", "hang", "flap")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def load_fixture(name: str) -> Any:
    path = FIXTURES / f"freqtrade_{name}.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        sys.exit(f"missing {path}: run `.venv/bin/python benchmarks/record_freqtrade.py` first")


class Fixtures:
    def __init__(self) -> None:
        self.show_config: dict[str, Any] = load_fixture("show_config")
        self.open_trade: dict[str, Any] = load_fixture("status")[0]
        self.closed_trade: dict[str, Any] = load_fixture("trades")["trades"][0]
        self.profit: dict[str, Any] = load_fixture("profit")
        self.balance: dict[str, Any] = load_fixture("balance")
        self.messages: dict[str, dict[str, Any]] = load_fixture("ws_messages")
        self.login_keys = list(load_fixture("token_login"))  # access_token, refresh_token


def ft_date(ts: float) -> str:
    """freqtrade's date strings: UTC, no zone, seconds."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


def iso_date(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


def round_to(value: float, step: float) -> float:
    return round(round(value / step) * step, 10)


@dataclass
class Trade:
    trade_id: int
    pair: str
    amount: float
    open_rate: float
    open_ts: float
    close_rate: float | None = None
    close_ts: float | None = None

    @property
    def stake_amount(self) -> float:
        return self.amount * self.open_rate

    @property
    def profit_abs(self) -> float:
        if self.close_rate is None:
            return 0.0
        return self.amount * self.close_rate * (1 - FEE) - self.stake_amount * (1 + FEE)


@dataclass(eq=False)  # hashed by identity: a bot holds a set of them
class Connection:
    queue: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(1000))
    subscriptions: set[str] = field(default_factory=set)


class StandinBot:
    def __init__(self, index: int, fixtures: Fixtures, rng: random.Random) -> None:
        self.index = index
        self.fx = fixtures
        self.username = f"standin-{index}"
        self.password = secrets.token_urlsafe(12)
        self.secret = secrets.token_hex(32)
        self.pair = list(PAIRS)[index % len(PAIRS)]
        self.level = PAIRS[self.pair] * rng.uniform(0.9, 1.1)
        self.phase = rng.uniform(0, 2 * math.pi)
        self.tokens: dict[str, str] = {}  # token -> type
        self.closed: list[Trade] = []
        self.open: Trade | None = None
        self.next_id = 1
        self.connections: set[Connection] = set()
        self.status_times: list[float] = []  # when our server asked for /status (one a sync)
        self.started_at = time.time()
        self.api_url = ""
        # How the bot misbehaves, set through the control API: "normal", "garbage" (answers
        # that are not JSON), "hang" (never answers) or "flap" (closes its websocket after 1 s).
        self.mode = "normal"

    # --- market and tokens -------------------------------------------------------------------

    def price(self, ts: float) -> float:
        """A smooth, per-bot price path: a few tenths of a percent around the bot's level."""
        return round_to(self.level * (1 + 0.004 * math.sin(ts / 40 + self.phase)), 0.01)

    def new_token(self, kind: str) -> str:
        now = int(time.time())
        lifetime = ACCESS_MINUTES * 60 if kind == "access" else 30 * 86400
        claims = {
            "identity": {"u": self.username},
            "exp": now + lifetime,
            "iat": now,
            "type": kind,
        }
        token = jwt.encode(claims, self.secret, algorithm="HS256")
        self.tokens[token] = kind
        return token

    def authorized(self, header: str | None) -> bool:
        """HTTP Basic or a Bearer access token, like freqtrade's `http_basic_or_jwt_token`."""
        if not header:
            return False
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer":
            return self.tokens.get(value) == "access"
        if scheme.lower() == "basic":
            return self.basic_ok(value)
        return False

    def basic_ok(self, value: str) -> bool:
        try:
            user, _, password = base64.b64decode(value).decode().partition(":")
        except ValueError:
            return False
        return user == self.username and password == self.password

    # --- trades ------------------------------------------------------------------------------

    def seed_history(self, count: int, now: float) -> None:
        for k in range(count):
            opened = now - (count - k) * 3600.0
            self.open_trade(opened)
            self.close_trade(opened + 1800.0)

    def open_trade(self, now: float) -> Trade:
        rate = self.price(now)
        amount = max(round_to(STAKE / rate, 1e-5), 1e-5)
        trade = Trade(self.next_id, self.pair, amount, rate, now)
        self.next_id += 1
        self.open = trade
        return trade

    def close_trade(self, now: float) -> Trade:
        trade = self.open
        assert trade is not None
        trade.close_rate = self.price(now)
        trade.close_ts = now
        self.closed.append(trade)
        self.open = None
        return trade

    def trade_json(self, trade: Trade, now: float) -> dict[str, Any]:
        """One trade as freqtrade's Trade.to_json() gives it (the recorded one, re-valued)."""
        is_open = trade.close_ts is None
        out = copy.deepcopy(self.fx.open_trade if is_open else self.fx.closed_trade)
        base, quote = trade.pair.split("/")
        stake = trade.stake_amount
        open_ms = int(trade.open_ts * 1000)
        out |= {
            "trade_id": trade.trade_id,
            "pair": trade.pair,
            "base_currency": base,
            "quote_currency": quote,
            "is_open": is_open,
            "amount": trade.amount,
            "amount_requested": trade.amount,
            "stake_amount": stake,
            "max_stake_amount": stake,
            "strategy": self.strategy,
            "enter_tag": "standin",
            "fee_open_cost": stake * FEE,
            "open_date": ft_date(trade.open_ts),
            "open_timestamp": open_ms,
            "open_fill_date": ft_date(trade.open_ts),
            "open_fill_timestamp": open_ms,
            "open_rate": trade.open_rate,
            "open_rate_requested": trade.open_rate,
            "open_trade_value": stake * (1 + FEE),
            "stop_loss_abs": round_to(trade.open_rate * 0.01, 0.01),
            "initial_stop_loss_abs": round_to(trade.open_rate * 0.01, 0.01),
        }
        orders = out["orders"]
        entry_order = orders[0]
        entry_order |= {
            "pair": trade.pair,
            "order_id": f"dry_run_buy_{trade.pair}_{self.index}-{trade.trade_id}",
            "amount": trade.amount,
            "filled": trade.amount,
            "safe_price": trade.open_rate,
            "cost": stake,
            "order_timestamp": open_ms - 50,
            "order_filled_timestamp": open_ms,
            "ft_order_tag": "standin",
        }
        if "average" in entry_order:
            entry_order |= {"average": trade.open_rate, "price": trade.open_rate}
        if is_open:
            current = self.price(now)
            ratio = (current * (1 - FEE)) / (trade.open_rate * (1 + FEE)) - 1
            profit = trade.amount * current * (1 - FEE) - stake * (1 + FEE)
            out |= {
                "current_rate": current,
                "profit_ratio": ratio,
                "profit_pct": round(ratio * 100, 2),
                "profit_abs": profit,
                "total_profit_abs": profit,
                "total_profit_ratio": ratio,
                "max_rate": max(current, trade.open_rate),
                "stoploss_current_dist": round_to(trade.open_rate * 0.01 - current, 0.01),
            }
            return out
        assert trade.close_rate is not None and trade.close_ts is not None
        profit = trade.profit_abs
        ratio = profit / (stake * (1 + FEE))
        close_ms = int(trade.close_ts * 1000)
        out |= {
            "close_date": ft_date(trade.close_ts),
            "close_timestamp": close_ms,
            "close_rate": trade.close_rate,
            "close_rate_requested": trade.close_rate,
            "fee_close_cost": trade.amount * trade.close_rate * FEE,
            "realized_profit": profit,
            "realized_profit_ratio": ratio,
            "close_profit": ratio,
            "close_profit_pct": round(ratio * 100, 2),
            "close_profit_abs": profit,
            "profit_ratio": ratio,
            "profit_pct": round(ratio * 100, 2),
            "profit_abs": profit,
            "trade_duration_s": int(trade.close_ts - trade.open_ts),
            "trade_duration": int((trade.close_ts - trade.open_ts) // 60),
            "exit_reason": "exit_signal",
        }
        if len(orders) > 1:
            orders[1] |= {
                "pair": trade.pair,
                "order_id": f"dry_run_sell_{trade.pair}_{self.index}-{trade.trade_id}",
                "amount": trade.amount,
                "filled": trade.amount,
                "safe_price": trade.close_rate,
                "average": trade.close_rate,
                "price": trade.close_rate,
                "cost": trade.amount * trade.close_rate,
                "order_timestamp": close_ms - 50,
                "order_filled_timestamp": close_ms,
                "order_date": ft_date(trade.close_ts),
                "order_filled_date": ft_date(trade.close_ts),
                "ft_order_tag": "exit_signal",
            }
        return out

    @property
    def strategy(self) -> str:
        return f"StandinStrategy{self.index % 7}"

    def message(self, kind: str, trade: Trade) -> dict[str, Any]:
        """A recorded websocket message, re-valued for this trade."""
        out = dict(self.fx.messages[kind])
        out |= {
            "trade_id": trade.trade_id,
            "pair": trade.pair,
            "base_currency": trade.pair.split("/")[0],
            "amount": trade.amount,
            "open_rate": trade.open_rate,
            "stake_amount": trade.stake_amount,
            "open_date": iso_date(trade.open_ts),
            "enter_tag": "standin",
            "buy_tag": "standin",
            "order_type": "limit",
        }
        if kind.startswith("exit"):
            assert trade.close_rate is not None and trade.close_ts is not None
            profit = trade.profit_abs
            out |= {
                "close_rate": trade.close_rate,
                "limit": trade.close_rate,
                "order_rate": trade.close_rate,
                "profit_amount": profit,
                "profit_ratio": profit / (trade.stake_amount * (1 + FEE)),
                "gain": "profit" if profit > 0 else "loss",
                "exit_reason": "exit_signal",
                "close_date": iso_date(trade.close_ts),
            }
        else:
            out |= {"limit": trade.open_rate, "order_rate": trade.open_rate}
        return out

    # --- REST answers ------------------------------------------------------------------------

    def show_config(self) -> dict[str, Any]:
        return self.fx.show_config | {
            "bot_name": f"standin-{self.index}",
            "strategy": self.strategy,
            "state": "running",
        }

    def status(self, now: float) -> list[dict[str, Any]]:
        return [self.trade_json(self.open, now)] if self.open is not None else []

    def trades(self, limit: int, offset: int, now: float) -> dict[str, Any]:
        page = self.closed[offset : offset + limit]
        return {
            "trades": [self.trade_json(t, now) for t in page],
            "trades_count": len(page),
            "offset": offset,
            "total_trades": len(self.closed),
        }

    def closed_profit(self) -> float:
        return sum(t.profit_abs for t in self.closed)

    def open_profit(self, now: float) -> float:
        if self.open is None:
            return 0.0
        current = self.price(now)
        return self.open.amount * current * (1 - FEE) - self.open.stake_amount * (1 + FEE)

    def profit(self, now: float) -> dict[str, Any]:
        closed = self.closed_profit()
        everything = closed + self.open_profit(now)
        wins = sum(1 for t in self.closed if t.profit_abs > 0)
        trades = [*self.closed, *([self.open] if self.open else [])]
        first = trades[0].open_ts if trades else now
        latest = trades[-1].open_ts if trades else now
        return self.fx.profit | {
            "profit_closed_coin": closed,
            "profit_closed_percent": round(closed / STARTING_CAPITAL * 100, 2),
            "profit_closed_ratio": closed / STARTING_CAPITAL,
            "profit_all_coin": everything,
            "profit_all_percent": round(everything / STARTING_CAPITAL * 100, 2),
            "profit_all_ratio": everything / STARTING_CAPITAL,
            "trade_count": len(trades),
            "closed_trade_count": len(self.closed),
            "winning_trades": wins,
            "losing_trades": len(self.closed) - wins,
            "winrate": wins / len(self.closed) if self.closed else 0.0,
            "first_trade_date": ft_date(first),
            "first_trade_timestamp": int(first * 1000),
            "latest_trade_date": ft_date(latest),
            "latest_trade_timestamp": int(latest * 1000),
            "best_pair": self.pair,
            "bot_start_timestamp": int(self.started_at * 1000),
            "bot_start_date": ft_date(self.started_at),
        }

    def balance(self, now: float) -> dict[str, Any]:
        in_trade = self.open.stake_amount if self.open else 0.0
        total = STARTING_CAPITAL + self.closed_profit() + self.open_profit(now)
        free = STARTING_CAPITAL + self.closed_profit() - in_trade
        out = copy.deepcopy(self.fx.balance)
        out["currencies"][0] |= {
            "free": free,
            "balance": total,
            "used": in_trade,
            "bot_owned": total,
            "est_stake": total,
            "est_stake_bot": total,
        }
        ratio = total / STARTING_CAPITAL - 1
        out |= {
            "total": total,
            "total_bot": total,
            "starting_capital": STARTING_CAPITAL,
            "starting_capital_ratio": ratio,
            "starting_capital_pct": round(ratio * 100, 2),
        }
        return out


def json_bytes(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


class Fleet:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        fixtures = Fixtures()
        rng = random.Random(args.seed)
        now = time.time()
        self.bots = [StandinBot(i, fixtures, rng) for i in range(args.bots)]
        for bot in self.bots:
            bot.seed_history(args.history, now)
        self.by_port: dict[int, StandinBot] = {}
        self.control_port = args.control_port
        self.sent: list[tuple[float, int, int, str, int]] = []  # (time, bot, trade, kind, ws)
        self.requests: Counter[str] = Counter()
        self.ws_open = 0
        self.ws_refused = 0
        self.trading_since = now + args.trade_delay
        self.rng = rng
        self.answer_delay = args.answer_delay_ms / 1000

    # --- trading -----------------------------------------------------------------------------

    async def trade_forever(self) -> None:
        """Each bot opens, then closes, a trade every `trade_period` seconds at its own phase."""
        period = self.args.trade_period
        if period <= 0:
            return
        half = period / 2
        queue = [(self.trading_since + self.rng.uniform(0, period), b.index) for b in self.bots]
        heapq.heapify(queue)
        while True:
            due, index = queue[0]
            delay = due - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
                continue
            heapq.heapreplace(queue, (due + half, index))
            self.step(self.bots[index])

    def step(self, bot: StandinBot) -> None:
        now = time.time()
        if bot.open is None:
            trade = bot.open_trade(now)
            kinds = ("entry", "entry_fill")
        else:
            trade = bot.close_trade(now)
            kinds = ("exit", "exit_fill")
        delivered = 0
        for kind in kinds:
            text = json.dumps(bot.message(kind, trade))
            for connection in list(bot.connections):
                if kind in connection.subscriptions and not connection.queue.full():
                    connection.queue.put_nowait(text)
                    delivered += 1
        self.sent.append((time.time(), bot.index, trade.trade_id, kinds[0], delivered))

    # --- ASGI --------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            return
        port = scope["server"][1] if scope.get("server") else 0
        path: str = scope["path"]
        if port == self.control_port:
            await self.control(scope, path, send)
            return
        bot = self.by_port.get(port)
        if bot is None and path.startswith("/bot/"):  # --layout prefix
            _, _, rest = path.partition("/bot/")
            number, _, tail = rest.partition("/")
            if number.isdigit() and int(number) < len(self.bots):
                bot, path = self.bots[int(number)], "/" + tail
        if bot is None:
            if scope["type"] == "http":
                await respond(send, 404, {"detail": "Not Found"})
            return
        if scope["type"] == "websocket":
            await self.websocket(bot, scope, path, receive, send)
        else:
            await self.http(bot, scope, path, receive, send)

    async def http(
        self, bot: StandinBot, scope: Scope, path: str, receive: Receive, send: Send
    ) -> None:
        self.requests[path] += 1
        if scope["method"] == "POST":
            while (await receive()).get("more_body"):
                pass
        headers = dict(scope["headers"])
        authorization = headers.get(b"authorization", b"").decode() or None
        now = time.time()
        if path == "/api/v1/ping":
            await respond(send, 200, {"status": "pong"})
            return
        if path == "/api/v1/token/login" and scope["method"] == "POST":
            scheme, _, value = (authorization or "").partition(" ")
            if scheme.lower() != "basic" or not bot.basic_ok(value):
                await respond(send, 401, {"detail": "Incorrect username or password"})
                return
            await respond(
                send,
                200,
                {
                    "access_token": bot.new_token("access"),
                    "refresh_token": bot.new_token("refresh"),
                },
            )
            return
        if path == "/api/v1/token/refresh" and scope["method"] == "POST":
            scheme, _, value = (authorization or "").partition(" ")
            if scheme.lower() != "bearer" or bot.tokens.get(value) != "refresh":
                await respond(send, 401, {"detail": "Could not validate credentials"})
                return
            await respond(send, 200, {"access_token": bot.new_token("access")})
            return
        if not bot.authorized(authorization):
            await respond(send, 401, {"detail": "Unauthorized"})
            return
        if scope["method"] != "GET":
            await respond(send, 405, {"detail": "Method Not Allowed"})
            return
        if self.answer_delay:
            await asyncio.sleep(self.answer_delay)  # a real bot's own work, without the CPU
        if bot.mode == "hang":
            await asyncio.sleep(3600)
        if bot.mode == "garbage":
            await respond_raw(send, 200, b"<html><body>502 Bad Gateway</body></html>")
            return
        if path == "/api/v1/status":
            bot.status_times.append(now)
            body: Any = bot.status(now)
        elif path == "/api/v1/profit":
            body = bot.profit(now)
        elif path == "/api/v1/balance":
            body = bot.balance(now)
        elif path == "/api/v1/trades":
            query = parse_qs(scope.get("query_string", b"").decode())
            limit = min(int(query.get("limit", ["500"])[0]), MAX_TRADES_PAGE)
            offset = int(query.get("offset", ["0"])[0])
            body = bot.trades(max(limit, 1), max(offset, 0), now)
        elif path == "/api/v1/show_config":
            body = bot.show_config()
        elif path == "/api/v1/version":
            body = {"version": bot.fx.show_config.get("version")}
        else:
            await respond(send, 404, {"detail": "Not Found"})
            return
        await respond(send, 200, body)

    async def websocket(
        self, bot: StandinBot, scope: Scope, path: str, receive: Receive, send: Send
    ) -> None:
        """freqtrade's message websocket: a bad token closes with 1008 before accepting."""
        await receive()  # websocket.connect
        query = parse_qs(scope.get("query_string", b"").decode())
        token = query.get("token", [""])[0]
        if path != "/api/v1/message/ws" or bot.tokens.get(token) != "access":
            self.ws_refused += 1
            await send({"type": "websocket.close", "code": 1008})
            return
        await send({"type": "websocket.accept"})
        connection = Connection()
        bot.connections.add(connection)
        self.ws_open += 1

        async def reader() -> None:
            while True:
                message = await receive()
                if message["type"] == "websocket.disconnect":
                    return
                try:
                    request = json.loads(message.get("text") or message.get("bytes") or "{}")
                except ValueError:
                    continue
                if request.get("type") == "subscribe" and isinstance(request.get("data"), list):
                    connection.subscriptions = {str(t) for t in request["data"]}

        async def writer() -> None:
            while True:
                text = await connection.queue.get()
                await send({"type": "websocket.send", "text": text})

        reading = asyncio.ensure_future(reader())
        writing = asyncio.ensure_future(writer())
        flap = asyncio.ensure_future(self.flap_after_a_second(bot))
        tasks = {reading, writing, flap}
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            if flap in done:
                await send({"type": "websocket.close", "code": 1011})
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            bot.connections.discard(connection)
            self.ws_open -= 1

    @staticmethod
    async def flap_after_a_second(bot: StandinBot) -> None:
        """Returns once the bot has been flapping for a second: its websocket is then closed."""
        while True:
            await asyncio.sleep(1.0)
            if bot.mode == "flap":
                return

    async def control(self, scope: Scope, path: str, send: Send) -> None:
        if scope["type"] != "http":
            return
        query = parse_qs(scope.get("query_string", b"").decode())
        if path == "/control/bots":
            body: Any = [
                {
                    "index": b.index,
                    "api_url": b.api_url,
                    "username": b.username,
                    "password": b.password,
                }
                for b in self.bots
            ]
        elif path == "/control/sent":
            since = float(query.get("since", ["0"])[0])
            body = [
                {"t": t, "bot": bot, "trade_id": trade, "kind": kind, "ws": ws}
                for t, bot, trade, kind, ws in self.sent
                if t >= since
            ]
        elif path == "/control/syncs-after-trades":
            # How many syncs (/status calls) each trade message caused within `within` seconds:
            # 1 is the ideal; 2 means the entry and its entry_fill each caused one.
            since = float(query.get("since", ["0"])[0])
            until = float(query.get("until", [str(time.time())])[0])
            within = float(query.get("within", ["2"])[0])
            counts = []
            for t, index, _, _, ws in self.sent:
                if since <= t <= until and ws:
                    times = self.bots[index].status_times
                    start = bisect.bisect_left(times, t)
                    counts.append(bisect.bisect_left(times, t + within) - start)
            body = {
                "trades": len(counts),
                "mean_syncs": sum(counts) / len(counts) if counts else None,
                "histogram": dict(Counter(counts)),
            }
        elif path == "/control/misbehave":
            index = int(query.get("bot", ["0"])[0])
            mode = query.get("mode", ["normal"])[0]
            if mode not in MODES or not 0 <= index < len(self.bots):
                await respond(send, 422, {"detail": f"modes: {', '.join(MODES)}"})
                return
            self.bots[index].mode = mode
            body = {"bot": index, "mode": mode}
        elif path == "/control/stats":
            usage = resource.getrusage(resource.RUSAGE_SELF)
            body = {
                "requests": dict(self.requests),
                "ws_open": self.ws_open,
                "ws_refused": self.ws_refused,
                "trades_sent": len(self.sent),
                "cpu_seconds": usage.ru_utime + usage.ru_stime,
                "max_rss_kb": usage.ru_maxrss,
            }
        else:
            await respond(send, 404, {"detail": "Not Found"})
            return
        await respond(send, 200, body)


async def respond(send: Send, status: int, body: Any) -> None:
    await respond_raw(send, status, json_bytes(body))


async def respond_raw(send: Send, status: int, payload: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def listening_socket(port: int = 0) -> socket.socket:
    # proto IPPROTO_TCP, as getaddrinfo gives it: asyncio and uvloop set TCP_NODELAY on the
    # connections a socket accepts only then. With proto 0 every answer after a connection's
    # first waits ~40 ms (Nagle's algorithm against delayed ACKs), unlike a real freqtrade.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((LOOPBACK, port))
    sock.set_inheritable(True)
    return sock


async def serve(args: argparse.Namespace) -> None:
    fleet = Fleet(args)
    sockets = [listening_socket(args.control_port)]
    if args.layout == "ports":
        for bot in fleet.bots:
            sock = listening_socket()
            port = sock.getsockname()[1]
            fleet.by_port[port] = bot
            bot.api_url = f"http://{LOOPBACK}:{port}"
            sockets.append(sock)
    else:
        shared = listening_socket(args.shared_port)
        port = shared.getsockname()[1]
        sockets.append(shared)
        for bot in fleet.bots:
            bot.api_url = f"http://{LOOPBACK}:{port}/bot/{bot.index}"
    config = uvicorn.Config(
        fleet,
        loop=args.loop,
        http=args.http,
        ws="websockets-sansio",
        lifespan="off",
        log_level="warning",
        access_log=False,
        ws_ping_interval=None,  # as freqtrade: it pings by itself, not through uvicorn
        timeout_keep_alive=5,
        backlog=4096,
        timeout_graceful_shutdown=3,
    )
    server = uvicorn.Server(config)
    trading = asyncio.ensure_future(fleet.trade_forever())
    print(
        f"{len(fleet.bots)} stand-in bots ({args.layout}), control on "
        f"http://{LOOPBACK}:{args.control_port}/control/bots",
        file=sys.stderr,
        flush=True,
    )
    try:
        await server.serve(sockets=sockets)
    finally:
        trading.cancel()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--bots", type=int, default=100)
    parser.add_argument("--control-port", type=int, required=True)
    parser.add_argument("--layout", choices=("ports", "prefix"), default="ports")
    parser.add_argument("--shared-port", type=int, default=0, help="the port of --layout prefix")
    parser.add_argument(
        "--trade-period",
        type=float,
        default=60.0,
        help="seconds between one bot's trade entries (it exits half-way); 0: never trades",
    )
    parser.add_argument(
        "--trade-delay", type=float, default=0.0, help="seconds before the first trades start"
    )
    parser.add_argument("--history", type=int, default=5, help="closed trades each bot starts with")
    parser.add_argument(
        "--answer-delay-ms",
        type=float,
        default=5.0,
        help="wait this long before each authenticated answer (a real freqtrade 2026.9 bot "
        "took 4-18 ms per /status, /profit, /balance, /trades on this machine)",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    parser.add_argument("--http", choices=("httptools", "h11"), default="httptools")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = 3 * args.bots + 256
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(needed, soft), hard), hard))
    # SIGTERM ends uvicorn's serve loop like Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: signal.raise_signal(signal.SIGINT))
    try:
        asyncio.run(serve(args))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())

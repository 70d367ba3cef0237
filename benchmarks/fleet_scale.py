"""Fleet-scale benchmark: one server collecting N freqtrade bots, with dashboards and live clients.

It starts, on loopback:

- N stand-in bots in one separate process (benchmarks/standin_bots.py), answering freqtrade's
  REST API and message websocket with the shapes a real freqtrade bot recorded
  (benchmarks/record_freqtrade.py); each bot opens and closes a trade every `--trade-period`
  seconds at its own phase and pushes freqtrade's entry/exit messages;
- one `multibot serve` with PostgreSQL (a throw-away database) and Redis (a unique key prefix);
- N `POST /api/v1/bots/external` to attach every stand-in.

Once every bot has been collected it runs three phases:

1. `--baseline` seconds of collection alone: staleness, and the server's CPU per bot sync;
2. `--cost-requests` requests to each dashboard endpoint, one at a time: latency without
   queueing, and the server CPU one request costs;
3. the window, `--duration` seconds of everything together:
   - staleness: every `--sample-every` seconds, `now - collected_at` of every bot's state, read
     straight from Redis (`<prefix>:bot-state:<id>`, what `app.state.live_state` serves; a
     missing key is a bot with no state);
   - API latency: a Poisson load of `--api-rate` requests/s on each dashboard endpoint (the
     fleet `analytics/performance` and `analytics/portfolio` when the server has them, else
     `bots?limit=500` and `activity`), plus `GET /health` at 10/s as a probe of the event loop;
   - resources: RSS and CPU of the server, CPU of every other process, from /proc, and the
     server's garbage-collector pauses (logged by a `sitecustomize` put on its PYTHONPATH);
   - live events: `--ws-clients` WebSocket clients on `/api/v1/ws/bots`, in a process of their
     own, timestamp every trade event; its latency is from the moment the stand-in pushed the
     trade's message on the bot's websocket to the moment a client received the event (both
     wall clock on this machine). The same is measured to the server's Redis event channel.
     Without the WebSocket route, the activity feed is polled instead (and said so).

    .venv/bin/python benchmarks/fleet_scale.py --bots 100 --duration 60
    .venv/bin/python benchmarks/fleet_scale.py --bots 1000 --duration 120 --profile 60 \
        --json-out /tmp/fleet/n1000.json

`--profile S` records S seconds of the window with py-spy (installed in .venv) and sums where the
server's event loop spent them; with `--json-out`, the raw profile and the server's and stand-ins'
logs are kept next to the JSON.

Everything runs on this machine's cores together (server, PostgreSQL, Redis, stand-ins, clients),
which is the set-up the targets are stated for; the per-process CPU figures show who used what,
and "other" what the rest of the machine took. The server, the stand-ins, the throw-away database
and the Redis keys are removed on the way out.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import random
import secrets
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from array import array
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
import websockets
from api_latency import (
    DEFAULT_POSTGRES_ADMIN_URL,
    LOOPBACK,
    ServerFailed,
    envelope_data,
    free_loopback_port,
    log_tail,
    percentile,
    server_command,
    server_environment,
    stop_server,
    throwaway_postgres_database,
    wait_until_healthy,
    without_password,
)
from redis.asyncio import Redis
from redis.exceptions import RedisError

HERE = Path(__file__).resolve().parent
BENCH_USERNAME = "fleetscaler"
BENCH_PASSWORD = "Fleet-Scale-Passw0rd-9"  # noqa: S105 - a throw-away account on a throw-away DB
BENCH_EMAIL = "fleetscaler@example.com"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
STANDIN_START_TIMEOUT = 120.0
REQUEST_TIMEOUT = 30.0
EVENT_GRACE_SECONDS = 5.0  # after the window, how long late events may still arrive
TRADE_EVENTS = ("trade.entry", "trade.exit")
PROFILE_RATE = 100  # py-spy samples per second
LOOP_PROBE_RATE = 10.0  # GET /health per second during the window

TARGETS = {
    "staleness_max_s": 5.0,
    "api_p99_ms": 50.0,
    "server_rss_mb": 300.0,
    "ws_p99_ms": 200.0,
}
ANALYTICS = ("/api/v1/analytics/performance", "/api/v1/analytics/portfolio")
FALLBACK_ENDPOINTS = ("/api/v1/bots?limit=500", "/api/v1/activity?limit=50")
WS_PATH = "/api/v1/ws/bots"
WS_CONNECTIONS_PER_USER = 50  # core_server.realtime.registry.MAX_CONNECTIONS_PER_USER


@dataclass(frozen=True)
class Config:
    bots: int
    duration: float
    ws_clients: int
    ws_audience: str
    ws_users: int
    api_rate: float
    trade_period: float
    history: int
    bot_latency_ms: float
    collector_interval: float
    collector_concurrency: int
    layout: str
    sample_every: float
    settle_timeout: float
    register_concurrency: int
    postgres_admin_url: str
    redis_url: str
    profile_seconds: float
    baseline_seconds: float
    profile_baseline: bool
    gc_freeze: bool
    cost_requests: int
    profile_out: Path | None
    endpoints: tuple[str, ...]
    server_env: tuple[str, ...]


class BenchFailed(Exception):
    pass


# --- processes ---------------------------------------------------------------------------------


def spawn(command: list[str], log_path: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with log_path.open("wb") as log:
        return subprocess.Popen(  # noqa: S603 - our own fixed command lines
            command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches only us; we stop the children in order
        )


def stop(process: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def standins(config: Config, workdir: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    control_port = free_loopback_port()
    command = [
        sys.executable, str(HERE / "standin_bots.py"), "--bots", str(config.bots),
        "--control-port", str(control_port), "--layout", config.layout,
        "--trade-period", str(config.trade_period), "--history", str(config.history),
        "--answer-delay-ms", str(config.bot_latency_ms),
    ]  # fmt: skip
    log_path = workdir / "standins.log"
    process = spawn(command, log_path, os.environ | {"PYTHONUNBUFFERED": "1"})
    control = f"http://{LOOPBACK}:{control_port}"
    try:
        deadline = time.monotonic() + STANDIN_START_TIMEOUT
        while True:
            if process.poll() is not None:
                raise BenchFailed(f"the stand-ins exited:\n{log_tail(log_path)}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{control}/control/stats", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise BenchFailed(f"the stand-ins did not start:\n{log_tail(log_path)}")
            time.sleep(0.2)
        yield process, control
    finally:
        stop(process)


def fleet_server_env(
    config: Config, workdir: Path, database_url: str, prefix: str
) -> dict[str, str]:
    env = server_environment(workdir / "data", database_url, config.redis_url)
    env |= {
        "REDIS_PREFIX": prefix,
        "DEMO_FLEET": "false",
        "SIMULATOR_ENABLED": "false",
        "ALLOW_REGISTRATION": "true",
        "COLLECTOR_INTERVAL_SECONDS": str(config.collector_interval),
        "COLLECTOR_CONCURRENCY": str(config.collector_concurrency),
        "LOG_LEVEL": "WARNING",  # one access line per dashboard request is not what we measure
    }
    # Garbage-collector pauses, logged by the server process itself (a sitecustomize module
    # on its path; the server's code is unchanged): a pause stops the event loop.
    site = workdir / "gc_site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(GC_LOGGER)
    env["PYTHONPATH"] = str(site)
    for assignment in config.server_env:
        name, _, value = assignment.partition("=")
        env[name] = value
    return env


@contextmanager
def fleet_server(
    config: Config, env: dict[str, str], workdir: Path
) -> Iterator[tuple[subprocess.Popen[bytes], str, Path]]:
    port = free_loopback_port()
    log_path = workdir / "server.log"
    process = subprocess.Popen(  # noqa: S603 - our own fixed command line
        server_command(port),
        cwd=workdir,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        base_url = f"http://{LOOPBACK}:{port}"
        wait_until_healthy(base_url, process, log_path)
        yield process, base_url, log_path
    finally:
        stop_server(process)


GC_LOGGER = """
import gc, sys, time
_started = [0.0]
def _gc_pause(phase, info):
    if phase == "start":
        _started[0] = time.perf_counter()
    else:
        ms = (time.perf_counter() - _started[0]) * 1000
        if ms >= 5 or info.get("generation") == 2:
            sys.stderr.write(f"GCPAUSE {time.time():.3f} gen={info['generation']} ms={ms:.1f} "
                             f"collected={info.get('collected')}\\n")
gc.callbacks.append(_gc_pause)


def _freeze(signum, frame):
    # The experiment of --gc-freeze: what `gc.freeze()` after start-up would do.
    gc.collect()
    gc.freeze()
    sys.stderr.write(f"GCFREEZE {time.time():.3f} frozen={gc.get_freeze_count()}\\n")


import signal
signal.signal(signal.SIGUSR1, _freeze)
"""


def gc_pauses(log: Path, since: float, until: float) -> dict[str, Any]:
    """The collector pauses of the server logged between `since` and `until` (unix seconds)."""
    pauses: list[tuple[int, float]] = []
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("GCPAUSE "):
            _, at, gen, ms, _ = line.split(" ", 4)
            if since <= float(at) <= until:
                pauses.append((int(gen.split("=")[1]), float(ms.split("=")[1])))
    gen2 = sorted(ms for gen, ms in pauses if gen == 2)
    return {
        "pauses_5ms_or_more": sum(1 for _, ms in pauses if ms >= 5),
        "gen2_collections": len(gen2),
        "gen2_max_ms": gen2[-1] if gen2 else None,
        "gen2_p50_ms": percentile(gen2, 50) if gen2 else None,
        "max_ms": max((ms for _, ms in pauses), default=None),
        "ms_per_second": round(sum(ms for _, ms in pauses) / max(until - since, 1e-9), 2),
    }


# --- /proc sampling ----------------------------------------------------------------------------


def proc_cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def proc_rss_mb(pid: int) -> float | None:
    try:
        pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return pages * PAGE_SIZE / 1e6


def pids_named(*names: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip().startswith(names):
                    found.append(int(entry.name))
    return found


def system_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of all cores."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return float(sum(values) - idle), float(sum(values))


class ResourceSampler:
    """CPU seconds per component over the window, and the server's RSS every second."""

    def __init__(self, components: dict[str, list[int]], server_pid: int) -> None:
        self.components = components
        self.server_pid = server_pid
        self.rss: list[float] = []
        self.start: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self.started = 0.0
        self.elapsed = 0.0
        self.system_start = (0.0, 0.0)
        self.system_busy = 0.0

    def _cpu(self) -> dict[str, float]:
        return {
            name: sum(proc_cpu_seconds(pid) or 0.0 for pid in pids)
            for name, pids in self.components.items()
        }

    async def run(self, stop_event: asyncio.Event) -> None:
        self.start = self._cpu()
        self.system_start = system_cpu()
        self.started = time.monotonic()
        while not stop_event.is_set():
            rss = proc_rss_mb(self.server_pid)
            if rss is not None:
                self.rss.append(rss)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop_event.wait(), 1.0)
        self.elapsed = time.monotonic() - self.started
        end = self._cpu()
        self.cpu = {name: end[name] - self.start.get(name, 0.0) for name in end}
        busy, total = system_cpu()
        self.system_busy = (busy - self.system_start[0]) / max(total - self.system_start[1], 1)


# --- the benchmark -----------------------------------------------------------------------------


@dataclass
class Staleness:
    samples: int = 0
    ages: list[float] = field(default_factory=list)  # every bot in every sample
    sample_max: list[float] = field(default_factory=list)
    missing: int = 0  # bot x sample with no state at all
    unhealthy: int = 0

    def summary(self) -> dict[str, Any]:
        ages = sorted(self.ages)
        return {
            "samples": self.samples,
            "p50_s": round(percentile(ages, 50), 3),
            "p99_s": round(percentile(ages, 99), 3),
            "max_s": round(ages[-1], 3) if ages else math.nan,
            "median_of_sample_max_s": round(percentile(sorted(self.sample_max), 50), 3),
            "share_over_5s": round(sum(1 for a in ages if a > 5.0) / max(len(ages), 1), 4),
            "missing": self.missing,
            "unhealthy": self.unhealthy,
        }


@dataclass
class EndpointLoad:
    path: str
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str | None = None

    def summary(self) -> dict[str, Any]:
        values = sorted(self.latencies)
        return {
            "path": self.path,
            "requests": len(values) + self.errors,
            "p50_ms": round(percentile(values, 50) * 1000, 1),
            "p90_ms": round(percentile(values, 90) * 1000, 1),
            "p99_ms": round(percentile(values, 99) * 1000, 1),
            "max_ms": round(values[-1] * 1000, 1) if values else math.nan,
            "errors": self.errors,
            "first_error": self.first_error,
        }


class Bench:
    def __init__(self, config: Config, base_url: str, control: str, prefix: str) -> None:
        self.config = config
        self.base_url = base_url
        self.control = control
        self.prefix = prefix
        self.token = ""
        self.ws_tokens: list[str] = []  # the WebSocket clients' users, in order
        self.bot_ids: dict[int, int] = {}  # our bot id -> stand-in index
        self.notes: list[str] = []
        self.http = httpx.AsyncClient(
            base_url=base_url,
            timeout=REQUEST_TIMEOUT,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=64),
        )
        self.redis = Redis.from_url(config.redis_url)

    async def aclose(self) -> None:
        await self.http.aclose()
        await self.redis.aclose()

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def token_of(self, username: str, password: str) -> str:
        login = {"username": username, "password": password}
        data = envelope_data(await self.http.post("/api/v1/auth/login", json=login))
        assert isinstance(data, dict)
        return str(data["access_token"])

    async def log_in(self) -> None:
        """The first account of an empty database: an admin, who loads the dashboards."""
        account = {"username": BENCH_USERNAME, "email": BENCH_EMAIL, "password": BENCH_PASSWORD}
        envelope_data(await self.http.post("/api/v1/auth/register", json=account))
        self.token = await self.token_of(BENCH_USERNAME, BENCH_PASSWORD)

    async def make_ws_users(self, server_env: dict[str, str]) -> None:
        """The accounts the WebSocket clients use, at most 50 connections each (the server's
        per-user limit). `admins`: more administrators, made with `multibot create-user
        --admin` as an operator would; each sees every bot's events and the first admin owns
        the bots. `owners`: traders who register, each owning an equal share of the bots."""
        users = math.ceil(self.config.ws_clients / WS_CONNECTIONS_PER_USER)
        if self.config.ws_audience == "owners":
            users = max(users, self.config.ws_users)
        for number in range(users):
            username = f"wsuser{number:03d}"
            if self.config.ws_audience == "admins":
                launcher = server_command(0)[:-5]  # without `serve --host H --port P`
                command = [*launcher, "create-user", username, "--admin"]
                env = server_env | {"MULTIBOT_PASSWORD": BENCH_PASSWORD}
                result = await asyncio.to_thread(
                    subprocess.run,
                    command,
                    env=env,
                    cwd=Path(server_env["DATA_DIR"]).parent,  # no .env of the repository
                    capture_output=True,
                    text=True,
                    timeout=120,
                    check=False,
                )
                if result.returncode != 0:
                    raise BenchFailed(f"create-user failed: {result.stdout}{result.stderr}")
            else:
                account = {
                    "username": username,
                    "email": f"{username}@example.com",
                    "password": BENCH_PASSWORD,
                }
                envelope_data(await self.http.post("/api/v1/auth/register", json=account))
            self.ws_tokens.append(await self.token_of(username, BENCH_PASSWORD))

    async def register(self) -> float:
        bots = (await self.http.get(f"{self.control}/control/bots")).json()
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        for bot in bots:
            queue.put_nowait(bot)
        started = time.perf_counter()

        async def worker() -> None:
            while not queue.empty():
                bot = queue.get_nowait()
                body = {
                    "name": f"standin-{bot['index']:05d}",
                    "api_url": bot["api_url"],
                    "username": bot["username"],
                    "password": bot["password"],
                }
                owner = self.token
                if self.config.ws_audience == "owners":
                    owner = self.ws_tokens[int(bot["index"]) % len(self.ws_tokens)]
                response = await self.http.post(
                    "/api/v1/bots/external",
                    json=body,
                    headers={"Authorization": f"Bearer {owner}"},
                )
                data = envelope_data(response)
                assert isinstance(data, dict)
                self.bot_ids[int(data["id"])] = int(bot["index"])

        await asyncio.gather(*(worker() for _ in range(self.config.register_concurrency)))
        return time.perf_counter() - started

    def state_keys(self) -> list[str]:
        return [f"{self.prefix}:bot-state:{bot_id}" for bot_id in self.bot_ids]

    async def read_states(self) -> tuple[float, list[dict[str, Any] | None]]:
        values = await self.redis.mget(self.state_keys())
        now = time.time()
        return now, [json.loads(v) if v else None for v in values]

    async def settle(self) -> float:
        """Seconds until every bot has a collected state."""
        started = time.monotonic()
        while time.monotonic() - started < self.config.settle_timeout:
            _, states = await self.read_states()
            collected = sum(1 for s in states if s and s.get("collected_at"))
            if collected == len(states):
                return time.monotonic() - started
            await asyncio.sleep(1.0)
        raise BenchFailed(
            f"only {collected} of {len(self.bot_ids)} bots were collected within "
            f"{self.config.settle_timeout:.0f} s"
        )

    async def sample_staleness(self, stop_event: asyncio.Event, result: Staleness) -> None:
        while not stop_event.is_set():
            now, states = await self.read_states()
            ages = []
            for state in states:
                if state is None or not state.get("collected_at"):
                    result.missing += 1
                    continue
                if not state.get("healthy"):
                    result.unhealthy += 1
                collected = datetime.fromisoformat(state["collected_at"]).timestamp()
                ages.append(now - collected)
            result.samples += 1
            result.ages.extend(ages)
            if ages:
                result.sample_max.append(max(ages))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop_event.wait(), self.config.sample_every)

    async def choose_endpoints(self) -> tuple[str, ...]:
        if self.config.endpoints:
            return self.config.endpoints
        spec = (await self.http.get("/openapi.json")).json()
        paths = set(spec.get("paths", {}))
        if all(path in paths for path in ANALYTICS):
            return ANALYTICS
        missing = [path for path in ANALYTICS if path not in paths]
        self.notes.append(
            f"the server has no {', '.join(missing)} yet: measured "
            f"{', '.join(FALLBACK_ENDPOINTS)} instead"
        )
        return FALLBACK_ENDPOINTS

    async def api_load(
        self, path: str, stop_event: asyncio.Event, load: EndpointLoad, rate: float
    ) -> None:
        """Open loop: requests arrive as a Poisson process of `api_rate` per second (independent
        users), whatever the previous ones are doing."""
        rng = random.Random(path)
        pending: set[asyncio.Task[None]] = set()

        async def one() -> None:
            sent = time.perf_counter()
            try:
                response = await self.http.get(path, headers=self.headers)
                if response.status_code != 200:
                    raise BenchFailed(f"HTTP {response.status_code}: {response.text[:200]}")
                load.latencies.append(time.perf_counter() - sent)
            except (httpx.HTTPError, BenchFailed) as exc:
                load.errors += 1
                load.first_error = load.first_error or f"{type(exc).__name__}: {exc}"

        next_at = time.perf_counter() + rng.expovariate(rate)
        while not stop_event.is_set():
            delay = next_at - time.perf_counter()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop_event.wait(), delay)
                continue
            task = asyncio.create_task(one())
            pending.add(task)
            task.add_done_callback(pending.discard)
            next_at += rng.expovariate(rate)
        await asyncio.gather(*pending, return_exceptions=True)

    async def ws_available(self) -> bool:
        url = self.base_url.replace("http://", "ws://") + f"{WS_PATH}?token={self.token}"
        try:
            async with websockets.connect(url, open_timeout=5):
                return True
        except (OSError, websockets.exceptions.WebSocketException, TimeoutError) as exc:
            self.notes.append(
                f"WebSocket {WS_PATH} refused a client ({type(exc).__name__}: {exc}); measured "
                "trade events through the activity feed (polled every 0.1 s) instead"
            )
            return False

    async def poll_activity(self, stop_event: asyncio.Event, seen: dict[int, float]) -> list[Any]:
        """The fallback for live events: when each trade event first showed up in the feed."""
        events: list[Any] = []
        path = "/api/v1/activity?type=trade.entry&type=trade.exit&limit=200"
        while not stop_event.is_set():
            data = envelope_data(await self.http.get(path, headers=self.headers))
            now = time.time()
            assert isinstance(data, dict)
            for item in data["items"]:
                if item["id"] not in seen:
                    seen[item["id"]] = now
                    events.append(item)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop_event.wait(), 0.1)
        return events

    async def listen_bus(self, stop_event: asyncio.Event, received: dict[str, Any]) -> None:
        """The server's event channel in Redis (`<prefix>:events`), where every server process
        picks events up for its WebSocket clients: when each trade event got there."""
        ids: list[int] = []
        times: list[float] = []
        received["received"] = [[ids, times]]
        meta: dict[int, list[Any]] = received.setdefault("meta", {})
        async with self.redis.pubsub() as pubsub:
            await pubsub.subscribe(f"{self.prefix}:events")
            while not stop_event.is_set():
                try:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)
                except RedisError as exc:  # counted: events missed here are not the server's
                    received["bus_errors"] = received.get("bus_errors", 0) + 1
                    self.notes.append(f"the driver's Redis subscription failed: {exc!r}")
                    await asyncio.sleep(0.5)
                    await pubsub.subscribe(f"{self.prefix}:events")
                    continue
                if message is None or message.get("type") != "message":
                    continue
                now = time.time()
                event = json.loads(message["data"])
                if event.get("type") not in TRADE_EVENTS:
                    continue
                ids.append(int(event["id"]))
                times.append(now)
                payload = event.get("payload") or {}
                meta[int(event["id"])] = [
                    event["type"],
                    event.get("bot_id"),
                    payload.get("trade_id"),
                    event.get("created_at"),
                ]

    async def collection_only(self, server_pid: int, workdir: Path) -> dict[str, Any]:
        """The collector alone for a while: no API load, no WebSocket client."""
        stop_event = asyncio.Event()
        staleness = Staleness()
        cpu_before = proc_cpu_seconds(server_pid) or 0.0
        stats_before = await self.standin_stats()
        started = time.monotonic()
        sampler = asyncio.create_task(self.sample_staleness(stop_event, staleness))
        seconds = self.config.baseline_seconds if self.config.profile_baseline else 0
        profile_path = workdir / "baseline.pyspy"
        with py_spy(server_pid, seconds, profile_path):
            await asyncio.sleep(self.config.baseline_seconds)
            stop_event.set()
            await sampler
            elapsed = time.monotonic() - started
        cpu = (proc_cpu_seconds(server_pid) or 0.0) - cpu_before
        syncs = syncs_between(stats_before, await self.standin_stats())
        return {
            "seconds": round(elapsed, 1),
            "server_cpu_cores": round(cpu / elapsed, 3),
            "syncs_per_second": round(syncs / elapsed, 1),
            "server_cpu_ms_per_sync": round(1000 * cpu / syncs, 2) if syncs else None,
            "staleness": staleness.summary(),
            "profile": profile_summary(profile_path, seconds) if seconds else {},
        }

    async def one_at_a_time(
        self, endpoints: Sequence[str], server_pid: int, background_cores: float
    ) -> list[dict[str, Any]]:
        """Each endpoint alone, one request after the other: its latency without queueing, and
        the server CPU one request costs (the collector's share, measured just before,
        taken off)."""
        results = []
        for path in endpoints:
            await self.http.get(path, headers=self.headers)  # warm
            latencies = []
            cpu_before = proc_cpu_seconds(server_pid) or 0.0
            started = time.monotonic()
            for _ in range(self.config.cost_requests):
                sent = time.perf_counter()
                response = await self.http.get(path, headers=self.headers)
                latencies.append(time.perf_counter() - sent)
                if response.status_code != 200:
                    raise BenchFailed(f"{path}: HTTP {response.status_code} {response.text[:200]}")
            elapsed = time.monotonic() - started
            cpu = (proc_cpu_seconds(server_pid) or 0.0) - cpu_before - background_cores * elapsed
            latencies.sort()
            results.append(
                {
                    "path": path,
                    "requests": len(latencies),
                    "p50_ms": round(percentile(latencies, 50) * 1000, 1),
                    "p99_ms": round(percentile(latencies, 99) * 1000, 1),
                    # None: the collector's share varied more than the requests cost.
                    "server_cpu_ms_per_request": (
                        round(1000 * cpu / len(latencies), 1) if cpu > 0 else None
                    ),
                    "bytes": len(response.content),
                }
            )
        return results

    async def sent_trades(self, since: float, until: float) -> list[dict[str, Any]]:
        sent = (await self.http.get(f"{self.control}/control/sent?since={since}")).json()
        return [s for s in sent if s["t"] <= until]

    async def syncs_after_trades(self, since: float, until: float) -> dict[str, Any]:
        url = f"{self.control}/control/syncs-after-trades?since={since}&until={until}&within=2"
        result: dict[str, Any] = (await self.http.get(url)).json()
        return result

    async def standin_stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = (await self.http.get(f"{self.control}/control/stats")).json()
        return stats


def syncs_between(before: dict[str, Any], after: dict[str, Any]) -> int:
    """Collector syncs the stand-ins served: each sync asks for /status once."""
    path = "/api/v1/status"
    return int(after["requests"].get(path, 0)) - int(before["requests"].get(path, 0))


# --- WebSocket clients (a process of their own) ------------------------------------------------


async def ws_clients_main(url: str, tokens: list[str], clients: int, out: Path) -> None:
    """Connect `clients` WebSockets (client i as user i mod len(tokens)), print `ready <n>`
    once every one has connected or failed, record (event id, receive time) of every trade
    event until SIGTERM, then write everything to `out`."""
    received: list[tuple[array[int], array[float]]] = [
        (array("q"), array("d")) for _ in range(clients)
    ]
    meta: dict[int, list[Any]] = {}
    dropped = [0] * clients
    stop_event = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop_event.set)
    connected = 0
    attempts_done = asyncio.Event()
    attempted = 0
    failures: list[str] = []
    closed_early: list[str] = []

    def attempt_over() -> None:
        nonlocal attempted
        attempted += 1
        if attempted == clients:
            attempts_done.set()

    async def client(index: int) -> None:
        nonlocal connected
        ids, times = received[index]
        token = tokens[index % len(tokens)]
        try:
            ws = await websockets.connect(f"{url}?token={token}", open_timeout=60, max_queue=None)
        except Exception as exc:  # reported; one client must not end the others
            failures.append(f"client {index}: {type(exc).__name__}: {exc}")
            attempt_over()
            return
        connected += 1
        attempt_over()
        try:
            async for raw in ws:
                now = time.time()
                message = json.loads(raw)
                kind = message.get("type")
                if kind == "dropped":
                    dropped[index] += int(message.get("count") or 0)
                if kind != "event":
                    continue
                event = message.get("event") or {}
                if event.get("type") not in TRADE_EVENTS:
                    continue
                event_id = int(event["id"])
                ids.append(event_id)
                times.append(now)
                if event_id not in meta:
                    payload = event.get("payload") or {}
                    meta[event_id] = [
                        event["type"],
                        event.get("bot_id"),
                        payload.get("trade_id"),
                        event.get("created_at"),
                    ]
            closed_early.append(f"client {index}: closed {ws.close_code} {ws.close_reason}")
        except Exception as exc:
            closed_early.append(f"client {index}: {type(exc).__name__}: {exc}")
        finally:
            await ws.close()

    tasks = []
    for index in range(clients):
        tasks.append(asyncio.create_task(client(index)))
        if index % 20 == 19:
            await asyncio.sleep(0.1)  # not 200 handshakes in one burst
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(attempts_done.wait(), 120)
    print(f"ready {connected} {json.dumps(failures[:3])}", flush=True)
    await stop_event.wait()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    out.write_text(  # noqa: ASYNC240 - once, at the very end, with nothing else to serve
        json.dumps(
            {
                "connected": connected,
                "failures": failures[:20],
                "failed": len(failures),
                "closed_early": closed_early[:20],
                "closed_early_count": len(closed_early),
                "dropped": sum(dropped),
                "received": [[ids.tolist(), times.tolist()] for ids, times in received],
                "meta": meta,
            }
        )
    )


@contextmanager
def ws_client_process(
    url: str, tokens: list[str], clients: int, workdir: Path
) -> Iterator[tuple[Any, Path, int]]:
    out = workdir / "ws_clients.json"
    tokens_path = workdir / "ws_tokens.json"
    tokens_path.write_text(json.dumps(tokens))
    command = [
        sys.executable, str(Path(__file__).resolve()), "ws-clients", url, str(tokens_path),
        str(clients), str(out),
    ]  # fmt: skip
    process = subprocess.Popen(  # noqa: S603 - our own command line
        command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, start_new_session=True
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().decode().strip()
        if not line.startswith("ready"):
            raise BenchFailed(f"the WebSocket clients did not start: {line!r}")
        connected = int(line.split()[1])
        if connected == 0:
            raise BenchFailed(f"no WebSocket client could connect: {line}")
        if connected < clients:
            print(
                f"warning: only {connected} of {clients} WebSocket clients: {line}", file=sys.stderr
            )
        yield process, out, connected
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def event_latencies(
    sent: list[dict[str, Any]],
    received: dict[str, Any],
    bot_ids: dict[int, int],
    owners: int | None = None,
) -> dict[str, Any]:
    """Join the stand-ins' send log with what every client received. With `owners`, client c
    and stand-in b belong to user c mod owners and b mod owners, and a client sees only its
    user's bots; without, every client sees every bot."""
    sent_at = {(s["bot"], s["trade_id"], s["kind"]): s["t"] for s in sent}
    key_of: dict[int, tuple[int, int, str]] = {}
    created: list[float] = []
    for event_id, (kind, bot_id, trade_id, created_at) in received["meta"].items():
        if bot_id is None or int(bot_id) not in bot_ids or trade_id is None:
            continue
        key = (bot_ids[int(bot_id)], int(trade_id), "entry" if kind == "trade.entry" else "exit")
        if key in sent_at:
            key_of[int(event_id)] = key
            if created_at:
                created.append(datetime.fromisoformat(created_at).timestamp() - sent_at[key])
    latencies: list[float] = []
    per_client_p99: list[float] = []
    delivered = 0
    for ids, times in received["received"]:
        mine = []
        for event_id, at in zip(ids, times, strict=True):
            found = key_of.get(event_id)
            if found is not None:
                mine.append(at - sent_at[found])
        delivered += len(mine)
        latencies.extend(mine)
        if mine:
            per_client_p99.append(percentile(sorted(mine), 99))
    latencies.sort()
    created.sort()
    clients = len(received["received"])
    if owners is None:
        expected = len(sent_at) * clients
    else:
        per_owner: dict[int, int] = defaultdict(int)
        for bot, _, _ in sent_at:
            per_owner[bot % owners] += 1
        expected = sum(per_owner[c % owners] for c in range(clients))
    return {
        "trades_sent": len(sent_at),
        "trades_with_event": len(key_of),
        "deliveries": delivered,
        "deliveries_expected": expected,
        "delivered_share": round(delivered / expected, 4) if expected else math.nan,
        "p50_ms": round(percentile(latencies, 50) * 1000, 1),
        "p90_ms": round(percentile(latencies, 90) * 1000, 1),
        "p99_ms": round(percentile(latencies, 99) * 1000, 1),
        "max_ms": round(latencies[-1] * 1000, 1) if latencies else math.nan,
        "worst_client_p99_ms": round(max(per_client_p99) * 1000, 1) if per_client_p99 else None,
        # Stand-in's message -> the event row's created_at: collection alone, no delivery.
        "to_event_row_p50_ms": round(percentile(created, 50) * 1000, 1),
        "to_event_row_p99_ms": round(percentile(created, 99) * 1000, 1),
    }


def feed_latencies(
    sent: list[dict[str, Any]], events: list[Any], seen: dict[int, float], bot_ids: dict[int, int]
) -> dict[str, Any]:
    sent_at = {(s["bot"], s["trade_id"], s["kind"]): s["t"] for s in sent}
    latencies = []
    for event in events:
        bot_id, trade_id = event.get("bot_id"), (event.get("payload") or {}).get("trade_id")
        if bot_id is None or int(bot_id) not in bot_ids or trade_id is None:
            continue
        kind = "entry" if event["type"] == "trade.entry" else "exit"
        key = (bot_ids[int(bot_id)], int(trade_id), kind)
        if key in sent_at:
            latencies.append(seen[event["id"]] - sent_at[key])
    latencies.sort()
    return {
        "trades_sent": len(sent_at),
        "trades_with_event": len(latencies),
        "p50_ms": round(percentile(latencies, 50) * 1000, 1),
        "p99_ms": round(percentile(latencies, 99) * 1000, 1),
        "max_ms": round(latencies[-1] * 1000, 1) if latencies else math.nan,
        "resolution_ms": 100,
    }


# --- profiling ---------------------------------------------------------------------------------


@contextmanager
def py_spy(pid: int, seconds: float, out: Path) -> Iterator[subprocess.Popen[bytes] | None]:
    binary = Path(sys.executable).with_name("py-spy")
    if seconds <= 0 or not binary.exists():
        yield None
        return
    command = [
        str(binary), "record", "--pid", str(pid), "--duration", str(int(seconds)),
        "--rate", str(PROFILE_RATE), "--format", "raw", "--output", str(out), "--threads",
        "--nonblocking",
    ]  # fmt: skip
    process = subprocess.Popen(  # noqa: S603 - our own command line
        command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        yield process
    finally:
        try:
            process.wait(timeout=seconds + 30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# Where a sample of the server's event-loop thread belongs: the outermost matching frame wins.
PROFILE_TASKS = (
    ("API requests", "RequestResponseCycle.run_asgi"),
    ("API requests", "WebSocketProtocol.run_asgi"),
    ("API requests", "WebSocketsSansIOProtocol.run_asgi"),
    ("collector: bot websockets", "BotCollector._listen"),
    ("collector: syncs", "BotCollector."),
    ("collector: reconcile", "Collector."),
    ("event bus", "EventBus."),
    ("risk engine", "RiskEngine."),
    ("bot supervisor", "BotManager."),
)
# ... and what it was doing: the innermost frame from one of these libraries.
PROFILE_LAYERS = (
    ("database (SQLAlchemy, asyncpg)", ("sqlalchemy/", "asyncpg/")),
    ("HTTP client (httpx, httpcore)", ("httpx/", "httpcore/", "anyio/")),
    ("Redis client", ("redis/",)),
    ("validation/serialisation (pydantic, json)", ("pydantic/", "pydantic_core/", "json/")),
    ("websockets", ("websockets/",)),
    ("framework (FastAPI, Starlette, uvicorn)", ("fastapi/", "starlette/", "uvicorn/")),
    ("our code", ("core_server/",)),
)


def profile_summary(path: Path, seconds: float, rate: int = PROFILE_RATE) -> dict[str, Any]:
    """From py-spy's raw output (collapsed stacks, one thread per first frame): how busy the
    event-loop thread was, with what task, doing what; and the busiest functions."""
    if not path.exists():
        return {}
    threads: dict[str, int] = defaultdict(int)
    lines = []
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if count_text.isdigit():
            frames = stack.split(";")
            threads[frames[0]] += int(count_text)
            lines.append((frames, int(count_text)))
    if not threads:
        return {}
    main_thread = max(threads, key=lambda name: threads[name])
    tasks: dict[str, int] = defaultdict(int)
    layers: dict[str, int] = defaultdict(int)
    task_layers: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    inclusive: dict[str, int] = defaultdict(int)
    total = 0
    for frames, count in lines:
        if frames[0] != main_thread:
            continue
        total += count
        task = next(
            (label for frame in frames for label, key in PROFILE_TASKS if key in frame),
            "event loop, I/O callbacks, other",
        )
        tasks[task] += count
        layer = next(
            (
                label
                for frame in reversed(frames)
                for label, keys in PROFILE_LAYERS
                if any(key in frame for key in keys)
            ),
            "interpreter, event loop",
        )
        layers[layer] += count
        task_layers[task][layer] += count
        for name in {_function(frame) for frame in frames[1:]}:
            inclusive[name] += count
    window = max(seconds * rate, 1)

    def shares(table: dict[str, int], top: int = 100) -> dict[str, float]:
        ranked = sorted(table.items(), key=lambda item: -item[1])[:top]
        return {name: round(100 * count / window, 1) for name, count in ranked}

    ours = {name: count for name, count in inclusive.items() if "core_server/" in name}
    return {
        "note": "percent of the wall-clock window in which the event-loop thread was on CPU",
        "loop_busy_pct": round(100 * total / window, 1),
        "by_task_pct": shares(tasks),
        "by_layer_pct": shares(layers),
        "by_task_and_layer_pct": {task: shares(table) for task, table in task_layers.items()},
        "our_functions_inclusive_pct": shares(ours, 25),
        "other_threads_samples": {name: n for name, n in threads.items() if name != main_thread},
    }


def _function(frame: str) -> str:
    """`name (/x/site-packages/sqlalchemy/orm/session.py:12)` -> `name (sqlalchemy/orm/...)`"""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "lib/python3.11/"):
        if marker in where:
            where = where.split(marker, 1)[1]
            break
    if "core_server/" in where:
        where = "core_server/" + where.split("core_server/", 1)[1]
    return f"{name} ({where})"


# --- one run -----------------------------------------------------------------------------------


async def measure(
    config: Config,
    server: subprocess.Popen[bytes],
    standin_process: subprocess.Popen[bytes],
    base_url: str,
    control: str,
    prefix: str,
    workdir: Path,
    server_env: dict[str, str],
) -> dict[str, Any]:
    bench = Bench(config, base_url, control, prefix)
    report: dict[str, Any] = {}
    try:
        await bench.log_in()
        if config.ws_clients > 0:
            await bench.make_ws_users(server_env)
        print(f"registering {config.bots} external bots", file=sys.stderr)
        report["register_seconds"] = round(await bench.register(), 1)
        report["settle_seconds"] = round(await bench.settle(), 1)
        if config.gc_freeze:
            os.kill(server.pid, signal.SIGUSR1)  # see GC_LOGGER: gc.collect(); gc.freeze()
            await asyncio.sleep(2)
        report["server_rss_after_settle_mb"] = round(proc_rss_mb(server.pid) or math.nan, 1)
        print(
            f"registered in {report['register_seconds']} s, all collected after "
            f"{report['settle_seconds']} s more; measuring for {config.duration:.0f} s",
            file=sys.stderr,
        )
        endpoints = await bench.choose_endpoints()
        if config.baseline_seconds > 0:
            print(f"collection alone for {config.baseline_seconds:.0f} s", file=sys.stderr)
            report["collection_only"] = await bench.collection_only(server.pid, workdir)
            print(f"one request at a time, {config.cost_requests} per endpoint", file=sys.stderr)
            report["one_at_a_time"] = await bench.one_at_a_time(
                endpoints, server.pid, report["collection_only"]["server_cpu_cores"]
            )
        use_ws = config.ws_clients > 0 and await bench.ws_available()
        ws_url = base_url.replace("http://", "ws://") + WS_PATH
        with contextlib.ExitStack() as stack:
            ws_process, ws_out, ws_connected = (
                stack.enter_context(
                    ws_client_process(ws_url, bench.ws_tokens, config.ws_clients, workdir)
                )
                if use_ws
                else (None, None, 0)
            )
            components = {
                "server": [server.pid],
                "standins": [standin_process.pid],
                "ws_clients": [ws_process.pid] if ws_process else [],
                "driver": [os.getpid()],
                "postgres": pids_named("postgres"),
                "redis": pids_named("redis-server"),
            }
            stop_event = asyncio.Event()
            staleness = Staleness()
            loads = [EndpointLoad(path) for path in endpoints]
            probe = EndpointLoad("/health")
            sampler = ResourceSampler(components, server.pid)
            seen: dict[int, float] = {}
            profile_path = workdir / "server.pyspy"
            window_start = time.time()
            with py_spy(server.pid, min(config.profile_seconds, config.duration), profile_path):
                tasks = [
                    asyncio.create_task(sampler.run(stop_event)),
                    asyncio.create_task(bench.sample_staleness(stop_event, staleness)),
                    *(
                        asyncio.create_task(
                            bench.api_load(load.path, stop_event, load, config.api_rate)
                        )
                        for load in loads
                    ),
                    # Liveness answers from memory: its latency is how long any request waits
                    # for the event loop (and for a CPU), whatever it asks for.
                    asyncio.create_task(
                        bench.api_load("/health", stop_event, probe, LOOP_PROBE_RATE)
                    ),
                ]
                bus_received: dict[str, Any] = {}
                tasks.append(asyncio.create_task(bench.listen_bus(stop_event, bus_received)))
                feed_task = (
                    asyncio.create_task(bench.poll_activity(stop_event, seen))
                    if config.ws_clients > 0 and not use_ws
                    else None
                )
                stats_before = await bench.standin_stats()
                await asyncio.sleep(config.duration)
                window_end = time.time()
                await asyncio.sleep(EVENT_GRACE_SECONDS)  # late events of the window's trades
                stop_event.set()
                await asyncio.gather(*tasks)
                feed_events = await feed_task if feed_task is not None else []
                stats_after = await bench.standin_stats()
                report["syncs_per_second"] = round(
                    syncs_between(stats_before, stats_after) / (time.time() - window_start), 1
                )
            sent = await bench.sent_trades(window_start, window_end)
            report["syncs_per_trade_message"] = await bench.syncs_after_trades(
                window_start, window_end - 2
            )
            if ws_process is not None and ws_out is not None:
                ws_process.terminate()
                ws_process.wait(timeout=120)
                received = json.loads(ws_out.read_text())
                users = len(bench.ws_tokens)
                owners = users if config.ws_audience == "owners" else None
                report["events"] = {
                    "via": f"WebSocket {WS_PATH}, {ws_connected} clients of {users} "
                    f"{config.ws_audience}",
                    **event_latencies(sent, received, bench.bot_ids, owners),
                    "clients_connected": received["connected"],
                    "clients_failed": received["failed"],
                    "client_failures": received["failures"][:5],
                    "clients_closed_early": received["closed_early_count"],
                    "closed_early_sample": received["closed_early"][:5],
                    "dropped_by_server": received["dropped"],
                }
            elif feed_task is not None:
                report["events"] = {
                    "via": "activity feed polled every 0.1 s by one client",
                    **feed_latencies(sent, feed_events, seen, bench.bot_ids),
                }
        report["events_bus"] = {
            "via": "the server's Redis event channel, one subscriber (no WebSocket hop)",
            **event_latencies(sent, bus_received, bench.bot_ids),
        }
        report["staleness"] = staleness.summary()
        report["api"] = [load.summary() for load in loads]
        report["loop_probe"] = probe.summary() | {"rate_per_s": LOOP_PROBE_RATE}
        report["server_rss_mb"] = {
            "max": round(max(sampler.rss), 1) if sampler.rss else math.nan,
            "end": round(sampler.rss[-1], 1) if sampler.rss else math.nan,
        }
        report["cpu_cores"] = {
            name: round(seconds / max(sampler.elapsed, 1e-9), 2)
            for name, seconds in sampler.cpu.items()
        }
        report["machine_busy_share"] = round(sampler.system_busy, 3)
        # What the machine was busy with besides this benchmark (other people's work too).
        report["cpu_cores"]["other"] = round(
            sampler.system_busy * (os.cpu_count() or 1) - sum(report["cpu_cores"].values()), 2
        )
        report["standins"] = await bench.standin_stats()
        profiled = min(config.profile_seconds, config.duration)
        report["profile"] = profile_summary(profile_path, profiled)
        if profile_path.exists() and config.profile_out is not None:
            config.profile_out.write_bytes(profile_path.read_bytes())
        report["notes"] = bench.notes
        report["window_seconds"] = round(window_end - window_start, 1)
        report["gc"] = gc_pauses(workdir / "server.log", window_start, window_end)
        return report
    finally:
        await bench.aclose()


async def delete_redis_keys(url: str, prefix: str) -> None:
    redis = Redis.from_url(url)
    try:
        batch = [key async for key in redis.scan_iter(match=f"{prefix}:*", count=1000)]
        for start in range(0, len(batch), 1000):
            await redis.delete(*batch[start : start + 1000])
    finally:
        await redis.aclose()


def run(config: Config) -> dict[str, Any]:
    prefix = f"fleetbench{secrets.token_hex(4)}"
    with tempfile.TemporaryDirectory(prefix="multibot-fleet-") as tmp:
        workdir = Path(tmp)
        try:
            with (
                throwaway_postgres_database(config.postgres_admin_url) as database_url,
                standins(config, workdir) as (standin_process, control),
                fleet_server(
                    config, env := fleet_server_env(config, workdir, database_url, prefix), workdir
                ) as (server, base_url, log),
            ):
                try:
                    report = asyncio.run(
                        measure(
                            config,
                            server,
                            standin_process,
                            base_url,
                            control,
                            prefix,
                            workdir,
                            env,
                        )
                    )
                except (BenchFailed, ServerFailed, httpx.HTTPError) as exc:
                    lines = log.read_text(errors="replace").splitlines()
                    problems = [line for line in lines if " WARNING " not in line][-40:]
                    raise BenchFailed(
                        f"{type(exc).__name__}: {exc}\nthe server's log without its warnings "
                        f"(last 40 lines):\n" + "\n".join(problems)
                    ) from exc
                errors = [
                    line
                    for line in log.read_text(errors="replace").splitlines()
                    if " ERROR " in line or " WARNING " in line
                ]
                report["server_log_warnings"] = len(errors)
                report["server_log_sample"] = errors[:5]
                return report
        finally:
            if config.profile_out is not None:  # keep the logs next to the results
                for name in ("server.log", "standins.log"):
                    if (workdir / name).exists():
                        target = config.profile_out.with_name(
                            config.profile_out.name.replace(".pyspy.txt", f".{name}")
                        )
                        target.write_bytes((workdir / name).read_bytes())
            asyncio.run(delete_redis_keys(config.redis_url, prefix))


# --- reporting ---------------------------------------------------------------------------------


def verdicts(report: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    """(target, measured, limit, met) for each target of the issue."""
    rows = []
    stale = report["staleness"]
    rows.append(
        ("every bot's state at most 5 s old", f"max {stale['max_s']} s, p99 {stale['p99_s']} s",
         "max ≤ 5 s", stale["max_s"] <= TARGETS["staleness_max_s"] and stale["missing"] == 0)
    )  # fmt: skip
    for load in report["api"]:
        rows.append(
            (f"`GET {load['path']}` p99", f"{load['p99_ms']} ms (p50 {load['p50_ms']} ms)",
             "< 50 ms", load["p99_ms"] < TARGETS["api_p99_ms"] and load["errors"] == 0)
        )  # fmt: skip
    rss = report["server_rss_mb"]["max"]
    rows.append(("server memory", f"{rss} MB max RSS", "< 300 MB", rss < TARGETS["server_rss_mb"]))
    events = report.get("events")
    if events is None:
        return rows
    rows.append(
        (f"trade event latency ({events['via']})",
         f"p99 {events['p99_ms']} ms (p50 {events['p50_ms']} ms)", "p99 ≤ 200 ms",
         events["p99_ms"] <= TARGETS["ws_p99_ms"] and events.get("delivered_share", 1) >= 0.999
         and "WebSocket" in events["via"])
    )  # fmt: skip
    return rows


def markdown(report: dict[str, Any]) -> str:
    lines = ["| target | measured | limit | met |", "| --- | --- | --- | --- |"]
    for target, measured, limit, met in verdicts(report):
        lines.append(f"| {target} | {measured} | {limit} | {'yes' if met else '**no**'} |")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> tuple[Config, Path | None]:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--bots", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=120.0, help="measured seconds")
    parser.add_argument("--ws-clients", type=int, default=200)
    parser.add_argument(
        "--ws-audience",
        choices=("admins", "owners"),
        default="admins",
        help="admins: every client sees every bot's events; owners: the bots are shared out "
        "among --ws-users traders and each client sees its owner's",
    )
    parser.add_argument("--ws-users", type=int, default=20, help="traders for --ws-audience owners")
    parser.add_argument(
        "--api-rate", type=float, default=2.0, help="requests/s sent to each dashboard endpoint"
    )
    parser.add_argument(
        "--endpoints",
        default="",
        help="comma-separated paths to load instead of the analytics endpoints",
    )
    parser.add_argument("--trade-period", type=float, default=60.0)
    parser.add_argument("--history", type=int, default=5, help="closed trades per bot at start")
    parser.add_argument(
        "--bot-latency-ms",
        type=float,
        default=5.0,
        help="each stand-in answer waits this long, like a real bot doing its work",
    )
    parser.add_argument("--collector-interval", type=float, default=5.0)
    parser.add_argument("--collector-concurrency", type=int, default=50)
    parser.add_argument("--layout", choices=("ports", "prefix"), default="ports")
    parser.add_argument("--sample-every", type=float, default=1.0)
    parser.add_argument("--settle-timeout", type=float, default=300.0)
    parser.add_argument("--register-concurrency", type=int, default=8)
    parser.add_argument("--postgres-admin-url", default=DEFAULT_POSTGRES_ADMIN_URL)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument(
        "--profile", type=float, default=0.0, help="py-spy the server for this many seconds"
    )
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        help="NAME=VALUE added to the server's environment (repeatable)",
    )
    parser.add_argument(
        "--baseline",
        type=float,
        default=20.0,
        help="seconds of collection alone (no API load, no WebSocket) before the window; "
        "0 skips it and the one-at-a-time requests",
    )
    parser.add_argument(
        "--gc-freeze",
        action="store_true",
        help="experiment: once every bot is collected, make the server run gc.collect() and "
        "gc.freeze() (through a signal handler the benchmark installs; no server change)",
    )
    parser.add_argument(
        "--profile-baseline", action="store_true", help="py-spy the server during the baseline"
    )
    parser.add_argument(
        "--cost-requests",
        type=int,
        default=20,
        help="requests sent one at a time to each endpoint after the baseline",
    )
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args(argv)
    config = Config(
        bots=args.bots,
        duration=args.duration,
        ws_clients=args.ws_clients,
        ws_audience=args.ws_audience,
        ws_users=args.ws_users,
        api_rate=args.api_rate,
        trade_period=args.trade_period,
        history=args.history,
        bot_latency_ms=args.bot_latency_ms,
        collector_interval=args.collector_interval,
        collector_concurrency=args.collector_concurrency,
        layout=args.layout,
        sample_every=args.sample_every,
        settle_timeout=args.settle_timeout,
        register_concurrency=args.register_concurrency,
        postgres_admin_url=args.postgres_admin_url,
        redis_url=args.redis_url,
        profile_seconds=args.profile,
        baseline_seconds=args.baseline,
        profile_baseline=args.profile_baseline,
        gc_freeze=args.gc_freeze,
        cost_requests=args.cost_requests,
        profile_out=args.json_out.with_suffix(".pyspy.txt") if args.json_out else None,
        endpoints=tuple(p.strip() for p in args.endpoints.split(",") if p.strip()),
        server_env=tuple(args.server_env),
    )
    return config, args.json_out


def _interrupt_on_sigterm(signum: int, frame: FrameType | None) -> None:
    signal.raise_signal(signal.SIGINT)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["ws-clients"]:
        url, tokens_path, clients, out = arguments[1:5]
        tokens = json.loads(Path(tokens_path).read_text())
        asyncio.run(ws_clients_main(url, tokens, int(clients), Path(out)))
        return 0
    config, json_out = parse_args(arguments)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt_on_sigterm)
    started = datetime.now(UTC)
    try:
        report = run(config)
    except KeyboardInterrupt:
        print(
            "interrupted; the server, the stand-ins and the database were removed", file=sys.stderr
        )
        return 130
    except (BenchFailed, ServerFailed) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    report = {
        "date": started.isoformat(timespec="seconds"),
        "command": shlex.join(
            [".venv/bin/python", "benchmarks/fleet_scale.py", *map(without_password, arguments)]
        ),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "config": asdict(config)
        | {"postgres_admin_url": without_password(config.postgres_admin_url)},
        **report,
        "targets_met": all(met for *_, met in verdicts(report)),
    }
    print(json.dumps(report, indent=2, default=str))
    print()
    print(markdown(report))
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

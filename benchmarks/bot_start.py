"""Bot start time and memory: `POST /bots/{id}/start` until the bot is running, against a bare
`freqtrade trade` started by hand on the same config, and the memory of one bot process.

It starts a real server (`multibot serve` with its embedded market simulator) in a throw-away
DATA_DIR, creates one dry-run bot on the simulator and then alternates, `--runs` times each:

- managed: POST /api/v1/bots/{id}/start, then GET /api/v1/bots/{id} every 100 ms until its
  status is `running`; then POST /stop and wait until it is stopped and its port is free. The
  server itself pings a starting bot every 0.5 s, so `running` lags the bot's API by up to that;
  the bot's /api/v1/ping is also probed directly (every 25 ms) to show the lag;
- bare: the same `freqtrade trade --config ... --userdir ...` command line, started directly
  with the API secrets in its environment, timed from spawn until its /api/v1/ping answers
  (probed every 25 ms); then SIGTERM (SIGKILL after 20 s) and wait until its port is free.

One unmeasured managed start comes first: it writes the bot's config.json, shows the command line
the server runs, warms the page cache, and is where the memory is read (~10 s after `running`).

    .venv/bin/python benchmarks/bot_start.py
    .venv/bin/python benchmarks/bot_start.py --runs 3 --json-out /tmp/bot_start.json

Every bot process is stopped on the way out (errors and Ctrl-C too), and any process still naming
the throw-away directory is killed, so no freqtrade is left behind.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import secrets
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
from api_latency import (
    LOOPBACK,
    ServerFailed,
    envelope_data,
    free_loopback_port,
    log_tail,
    server_command,
    server_environment,
    stop_server,
    wait_until_healthy,
)

from core_server.bots.runtime import port_is_free

BENCH_USERNAME = "startbencher"
BENCH_PASSWORD = "Start-Bench-Passw0rd-4"  # noqa: S105 - a throw-away account on a throw-away DB
BENCH_EMAIL = "startbencher@example.com"
BOT = {"name": "bench-start", "pairs": ["BTC/USDT", "ETH/USDT"], "stake_amount": 50}

POLL_SECONDS = 0.1  # our polling of GET /bots/{id}
PROBE_SECONDS = 0.025  # our probing of the bot's own /ping, managed and bare alike
SERVER_WATCH_POLL_SECONDS = 0.5  # READY_POLL_SECONDS of core_server.bots.manager
MEMORY_SETTLE_SECONDS = 10.0  # how long a bot runs before its memory is read
BARE_STOP_GRACE_SECONDS = 20.0  # SIGTERM, then SIGKILL, as the server's BOT_STOP_TIMEOUT_SECONDS
STOP_TIMEOUT_SECONDS = 60.0
PORT_FREE_TIMEOUT_SECONDS = 30.0
REQUEST_TIMEOUT_SECONDS = 30.0
SUPERVISOR_INTERVAL_SECONDS = "2"  # the server's default, stated so the set-up is explicit
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class BotFailed(Exception):
    """A bot did not start or stop as it should: the figures of this run would be meaningless."""


@dataclass(frozen=True)
class ManagedRun:
    to_spawn_s: float  # POST /start sent -> the freqtrade process exists (10 ms resolution)
    to_api_s: float | None  # POST /start sent -> the bot's /ping first answered our probe
    to_running_s: float  # POST /start sent -> GET /bots/{id} says running


@dataclass(frozen=True)
class BareRun:
    to_api_s: float  # spawn -> /ping answered


@dataclass(frozen=True)
class Memory:
    rss_mb: float
    processes: int


@dataclass
class Results:
    runs: int
    managed: list[ManagedRun] = field(default_factory=list)
    bare: list[BareRun] = field(default_factory=list)
    managed_bot_memory: Memory | None = None
    bare_bot_memory: Memory | None = None
    server_memory: Memory | None = None
    command: list[str] = field(default_factory=list)  # what the server runs for the bot
    leftovers_killed: list[str] = field(default_factory=list)


# --- processes and memory ----------------------------------------------------------------------


def read_stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (state is [0], pgid [2])."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def all_pids() -> Iterator[int]:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            yield int(entry.name)


def process_group(pgid: int) -> list[int]:
    return [pid for pid in all_pids() if (stat := read_stat(pid)) and int(stat[2]) == pgid]


def rss_kb(pid: int) -> int:
    with suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def group_memory(pgid: int) -> Memory:
    """Resident memory of a process group: bots and the server are each started as the leader
    of a session of their own, so the group is the process and whatever it forked."""
    members = process_group(pgid)
    return Memory(round(sum(rss_kb(pid) for pid in members) / 1024, 1), len(members))


def spawn_offset(pid: int, boot_clock_at_post: float) -> float | None:
    """Seconds from `boot_clock_at_post` (CLOCK_BOOTTIME) to the process's start time, which the
    kernel keeps in clock ticks since boot."""
    stat = read_stat(pid)
    if stat is None:
        return None
    return int(stat[19]) / CLOCK_TICKS - boot_clock_at_post


def processes_naming(text: str) -> list[int]:
    """Like `pgrep -f text`: live processes whose command line contains `text`."""
    found = []
    for pid in all_pids():
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        stat = read_stat(pid)
        if text in cmdline and pid != os.getpid() and stat and stat[0] not in ("Z", "X"):
            found.append(pid)
    return found


def kill_group_of(pid: int, sig: signal.Signals) -> None:
    """Signal the group when `pid` leads it (every bot does), else the process alone."""
    stat = read_stat(pid)
    with suppress(ProcessLookupError, PermissionError):
        if stat is not None and int(stat[2]) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)


def kill_leftovers(text: str) -> list[str]:
    """End every process still naming our throw-away directory; returns what had to be ended."""
    leftovers = processes_naming(text)
    described = []
    for pid in leftovers:
        with suppress(OSError):
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            described.append(f"{pid}: {cmdline.strip()[:200]}")
        kill_group_of(pid, signal.SIGTERM)
    deadline = time.monotonic() + BARE_STOP_GRACE_SECONDS
    while processes_naming(text) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in processes_naming(text):
        kill_group_of(pid, signal.SIGKILL)
    return described


def wait_port_free(port: int) -> None:
    deadline = time.monotonic() + PORT_FREE_TIMEOUT_SECONDS
    while not port_is_free(port):
        if time.monotonic() > deadline:
            raise BotFailed(f"port {port} still taken {PORT_FREE_TIMEOUT_SECONDS:.0f} s after stop")
        time.sleep(0.1)


def sleep_to_next(tick: float, step: float) -> float:
    """Sleep until the next point of the grid `tick + n * step` that lies ahead, and return it:
    a slow request skips grid points rather than making the next ones come in a burst."""
    now = time.perf_counter()
    while tick <= now:
        tick += step
    time.sleep(tick - now)
    return tick


# --- the server --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Server:
    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    env: dict[str, str]


def bench_environment(data_dir: Path, bot_ports: tuple[int, int]) -> dict[str, str]:
    """api_latency's minimal environment (no developer settings leak in), as a test server with
    the embedded simulator, no demo fleet and bot ports of our own."""
    env = server_environment(data_dir, f"sqlite:///{data_dir / 'multibot.db'}", None)
    return env | {
        "ENVIRONMENT": "test",
        "DEMO_FLEET": "false",
        "SIMULATOR_ENABLED": "true",
        "SIMULATOR_PORT": str(free_loopback_port()),
        "BOT_PORT_RANGE_START": str(bot_ports[0]),
        "BOT_PORT_RANGE_END": str(bot_ports[1]),
        "SUPERVISOR_INTERVAL_SECONDS": SUPERVISOR_INTERVAL_SECONDS,
    }


@contextmanager
def bench_server(workdir: Path, bot_ports: tuple[int, int]) -> Iterator[Server]:
    port = free_loopback_port()
    data_dir = workdir / "data"
    log_path = workdir / "server.log"
    env = bench_environment(data_dir, bot_ports)
    with log_path.open("wb") as log:
        # A session of its own, so a Ctrl-C reaches only this script, which stops bots first.
        process = subprocess.Popen(  # noqa: S603 - our own fixed command line
            server_command(port),
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            base_url = f"http://{LOOPBACK}:{port}"
            wait_until_healthy(base_url, process, log_path)
            yield Server(base_url, process, log_path, env)
        finally:
            stop_server(process)


class Api:
    """The server's REST API as the bot's owner."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=REQUEST_TIMEOUT_SECONDS)

    def log_in(self) -> None:
        account = {"username": BENCH_USERNAME, "email": BENCH_EMAIL, "password": BENCH_PASSWORD}
        envelope_data(self.http.post("/api/v1/auth/register", json=account))
        login = {"username": BENCH_USERNAME, "password": BENCH_PASSWORD}
        data = envelope_data(self.http.post("/api/v1/auth/login", json=login))
        assert isinstance(data, dict)
        self.http.headers["Authorization"] = f"Bearer {data['access_token']}"

    def create_bot(self) -> dict[str, Any]:
        data = envelope_data(self.http.post("/api/v1/bots", json=BOT))
        assert isinstance(data, dict)
        return data

    def bot(self, bot_id: int) -> dict[str, Any]:
        data = envelope_data(self.http.get(f"/api/v1/bots/{bot_id}"))
        assert isinstance(data, dict)
        return data

    def post(self, path: str) -> httpx.Response:
        response = self.http.post(path)
        envelope_data(response)
        return response

    def close(self) -> None:
        self.http.close()


def pong(probe: httpx.Client, port: int) -> bool:
    try:
        response = probe.get(f"http://{LOOPBACK}:{port}/api/v1/ping")
        return response.status_code == 200 and response.json().get("status") == "pong"
    except (httpx.HTTPError, ValueError):
        return False


def bot_log(data_dir: Path, bot_id: int) -> str:
    return log_tail(data_dir / "bots" / str(bot_id) / "freqtrade.log")


# --- one start each ----------------------------------------------------------------------------


def managed_start(
    api: Api, probe: httpx.Client, bot_id: int, port: int, timeout: float
) -> tuple[ManagedRun, int]:
    """POST /start, then poll until running; returns the timings and the bot's pid."""
    boot_clock = time.clock_gettime(time.CLOCK_BOOTTIME)
    started = time.perf_counter()
    response = api.post(f"/api/v1/bots/{bot_id}/start")
    if response.status_code != 202:
        raise BotFailed(f"POST /start answered {response.status_code}: {response.text[:300]}")
    pid: int | None = None
    to_spawn: float | None = None
    to_api: float | None = None
    tick = next_poll = started
    while True:
        # Our own view of when the bot's API is up, probed as often as in the bare run.
        if to_api is None and pong(probe, port):
            to_api = time.perf_counter() - started
        if time.perf_counter() >= next_poll:
            while next_poll <= time.perf_counter():
                next_poll += POLL_SECONDS
            bot = api.bot(bot_id)
            now = time.perf_counter() - started
            if bot["api_port"] != port:
                raise BotFailed(f"the server moved the bot from port {port} to {bot['api_port']}")
            if pid is None and bot["pid"]:
                pid = int(bot["pid"])
                to_spawn = spawn_offset(pid, boot_clock)
            if bot["status"] == "running":
                break
            if bot["status"] != "starting":
                raise BotFailed(f"bot turned {bot['status']}: {bot['last_error']}")
            if now > timeout:
                raise BotFailed(f"bot not running after {timeout:.0f} s")
        tick = sleep_to_next(tick, PROBE_SECONDS)
    if pid is None or to_spawn is None:
        raise BotFailed("the bot was running but its process could not be seen")
    if to_api is None and pong(probe, port):
        to_api = time.perf_counter() - started  # came up between our probe and the GET
    return ManagedRun(round(to_spawn, 3), to_api and round(to_api, 3), round(now, 3)), pid


def managed_stop(api: Api, bot_id: int, port: int) -> None:
    api.post(f"/api/v1/bots/{bot_id}/stop")
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    while (status := api.bot(bot_id)["status"]) != "stopped":
        if time.monotonic() > deadline:
            raise BotFailed(f"bot still {status} {STOP_TIMEOUT_SECONDS:.0f} s after POST /stop")
        time.sleep(0.2)
    wait_port_free(port)


def bare_environment(server_env: dict[str, str]) -> dict[str, str]:
    """What the server gives its bots: its own environment plus the API secrets."""
    return server_env | {
        "PYTHONUNBUFFERED": "1",
        "FREQTRADE__API_SERVER__PASSWORD": secrets.token_urlsafe(24),
        "FREQTRADE__API_SERVER__JWT_SECRET_KEY": secrets.token_hex(32),
        "FREQTRADE__API_SERVER__WS_TOKEN": secrets.token_hex(32),
    }


def end_bare(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    kill_group_of(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=BARE_STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        kill_group_of(process.pid, signal.SIGKILL)
        process.wait()


@contextmanager
def bare_bot(
    command: list[str], cwd: Path, env: dict[str, str], log_path: Path
) -> Iterator[tuple[subprocess.Popen[bytes], float]]:
    """`freqtrade trade` started by hand; yields it and its perf_counter spawn time, and always
    ends it (SIGTERM, SIGKILL after 20 s) on the way out."""
    with log_path.open("ab") as log:
        spawned = time.perf_counter()
        process = subprocess.Popen(  # noqa: S603 - the command line the server itself runs
            command,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process, spawned
    finally:
        end_bare(process)


def wait_bare_api(
    process: subprocess.Popen[bytes],
    spawned: float,
    probe: httpx.Client,
    port: int,
    timeout: float,
    log_path: Path,
) -> BareRun:
    tick = spawned
    while not pong(probe, port):
        if process.poll() is not None:
            raise BotFailed(
                f"bare freqtrade exited with {process.returncode}:\n{log_tail(log_path)}"
            )
        if time.perf_counter() - spawned > timeout:
            raise BotFailed(f"bare freqtrade's API did not answer in {timeout:.0f} s")
        tick = sleep_to_next(tick, PROBE_SECONDS)
    return BareRun(round(time.perf_counter() - spawned, 3))


# --- the benchmark -----------------------------------------------------------------------------


def log_progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_pairs(server: Server, api: Api, data_dir: Path, results: Results, timeout: float) -> None:
    bot = api.create_bot()
    bot_id, port = int(bot["id"]), int(bot["api_port"])
    root = data_dir / "bots" / str(bot_id)
    bare_log = root.parent / f"{bot_id}-bare.log"  # beside the bot's folder, not in its log
    probe = httpx.Client(timeout=httpx.Timeout(2.0, connect=0.5))
    try:
        # Warm-up: writes config.json, shows the server's command line; memory is read here.
        warm, pid = managed_start(api, probe, bot_id, port, timeout)
        log_progress(f"warm-up managed start: {warm.to_running_s:.2f} s to running")
        results.command = (
            Path(f"/proc/{pid}/cmdline").read_bytes().decode().rstrip("\0").split("\0")
        )
        time.sleep(MEMORY_SETTLE_SECONDS)
        results.managed_bot_memory = group_memory(pid)
        results.server_memory = group_memory(server.process.pid)
        managed_stop(api, bot_id, port)

        for run in range(1, results.runs + 1):
            managed, _ = managed_start(api, probe, bot_id, port, timeout)
            managed_stop(api, bot_id, port)
            results.managed.append(managed)
            env = bare_environment(server.env)
            with bare_bot(results.command, root, env, bare_log) as (process, spawned):
                bare = wait_bare_api(process, spawned, probe, port, timeout, bare_log)
                if results.bare_bot_memory is None:
                    time.sleep(MEMORY_SETTLE_SECONDS)
                    results.bare_bot_memory = group_memory(process.pid)
            wait_port_free(port)
            results.bare.append(bare)
            log_progress(
                f"run {run}/{results.runs}: managed {managed.to_running_s:.2f} s to running "
                f"(spawned at {managed.to_spawn_s:.2f} s, API at {managed.to_api_s} s), "
                f"bare {bare.to_api_s:.2f} s to API"
            )
    except BotFailed as exc:
        raise BotFailed(
            f"{exc}\nlast lines of the bot's log:\n{bot_log(data_dir, bot_id)}"
        ) from exc
    finally:
        probe.close()
        with suppress(httpx.HTTPError, ServerFailed, BotFailed):
            if api.bot(bot_id)["status"] != "stopped":
                managed_stop(api, bot_id, port)


def benchmark(runs: int, bot_ports: tuple[int, int], timeout: float, keep: bool) -> Results:
    results = Results(runs=runs)
    workdir = Path(tempfile.mkdtemp(prefix="multibot-bench-start-"))
    data_dir = workdir / "data"
    try:
        try:
            log_progress("starting the server")
            with bench_server(workdir, bot_ports) as server:
                api = Api(server.base_url)
                try:
                    api.log_in()
                    run_pairs(server, api, data_dir, results, timeout)
                except ServerFailed as exc:
                    raise ServerFailed(
                        f"{exc}\nlast lines of the server log:\n{log_tail(server.log_path)}"
                    ) from exc
                finally:
                    api.close()
        finally:
            # The server leaves bot processes running when it stops (the next one adopts them):
            # whatever still names our directory now was not stopped above, so end it.
            results.leftovers_killed = kill_leftovers(str(workdir))
            if results.leftovers_killed:
                log_progress(f"warning: had to kill {results.leftovers_killed}")
            still = processes_naming(str(workdir))
            if still:
                log_progress(f"error: processes survive, end them by hand: {still}")
    finally:
        if keep:
            log_progress(f"kept the server's and the bot's files in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return results


# --- reporting and the command line ------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    label: str
    values: list[float]

    def row(self) -> str:
        if not self.values:
            return f"| {self.label} | 0 | – | – | – |"
        return (
            f"| {self.label} | {len(self.values)} | {statistics.median(self.values):.2f} | "
            f"{min(self.values):.2f} | {max(self.values):.2f} |"
        )


def summaries(results: Results) -> list[Summary]:
    return [
        Summary(
            "managed: `POST /start` → status `running`", [r.to_running_s for r in results.managed]
        ),
        Summary(
            "managed: `POST /start` → process spawned", [r.to_spawn_s for r in results.managed]
        ),
        Summary(
            "managed: `POST /start` → bot's `/ping` answers",
            [r.to_api_s for r in results.managed if r.to_api_s is not None],
        ),
        Summary("bare: spawn → bot's `/ping` answers", [r.to_api_s for r in results.bare]),
    ]


def ratio(results: Results, *, to_ping: bool = False) -> float:
    """Median managed start over median bare start: to `running` as the API user sees it, or
    (to_ping) to the bot's own API answering, without the server's 0.5 s watch granularity."""
    managed = statistics.median(
        (r.to_api_s or math.nan) if to_ping else r.to_running_s for r in results.managed
    )
    bare = statistics.median(r.to_api_s for r in results.bare)
    return managed / bare


def markdown(results: Results) -> str:
    lines = [
        "| measurement | runs | median s | min s | max s |",
        "| --- | ---: | ---: | ---: | ---: |",
        *(summary.row() for summary in summaries(results)),
    ]
    if results.managed and results.bare:
        lines.append(f"| **ratio of medians, managed ÷ bare** | | **{ratio(results):.2f}** | | |")
        to_ping = ratio(results, to_ping=True)
        lines.append(f"| ratio of medians, managed to `/ping` ÷ bare | | {to_ping:.2f} | | |")
    lines += ["", "| process | RSS MB | processes |", "| --- | ---: | ---: |"]
    for label, memory in (
        (f"managed bot, {MEMORY_SETTLE_SECONDS:.0f} s after `running`", results.managed_bot_memory),
        (f"bare bot, {MEMORY_SETTLE_SECONDS:.0f} s after `/ping`", results.bare_bot_memory),
        ("server (`multibot serve` + simulator), one bot", results.server_memory),
    ):
        if memory is not None:
            lines.append(f"| {label} | {memory.rss_mb:.1f} | {memory.processes} |")
    return "\n".join(lines)


def write_json(path: Path, results: Results, bot_ports: tuple[int, int]) -> None:
    report = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": shlex.join([Path(sys.executable).name, *sys.argv]),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "bot_ports": list(bot_ports),
        "poll_seconds": POLL_SECONDS,
        "probe_seconds": PROBE_SECONDS,
        "server_watch_poll_seconds": SERVER_WATCH_POLL_SECONDS,
        "medians": {s.label: s.values and statistics.median(s.values) for s in summaries(results)},
        "ratio_of_medians": ratio(results) if results.managed and results.bare else None,
        "ratio_of_medians_to_ping": (
            ratio(results, to_ping=True) if results.managed and results.bare else None
        ),
        "results": asdict(results),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")


def port_range(text: str) -> tuple[int, int]:
    try:
        low, high = (int(part) for part in text.split("-"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a range like 47000-47199: {text!r}") from exc
    if not 1024 <= low <= high <= 65535:
        raise argparse.ArgumentTypeError(f"need 1024 <= low <= high <= 65535: {text!r}")
    return low, high


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text!r}")
    return value


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--runs", type=positive_int, default=5, help="measured starts of each kind (alternated)"
    )
    parser.add_argument(
        "--bot-ports",
        type=port_range,
        default="47000-47199",
        help="the server's BOT_PORT_RANGE_START-END",
    )
    parser.add_argument(
        "--timeout", type=float, default=90.0, help="seconds one start may take before failing"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the throw-away directory (logs) for inspection"
    )
    parser.add_argument("--json-out", type=Path, default=None, help="also write results as JSON")
    return parser.parse_args(argv)


def _interrupt_on_sigterm(signum: int, frame: FrameType | None) -> None:
    signal.raise_signal(signal.SIGINT)  # `kill` cleans up exactly like Ctrl-C


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # A shell starts background jobs with SIGINT ignored; restore it, and treat SIGTERM alike.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt_on_sigterm)
    try:
        results = benchmark(args.runs, args.bot_ports, args.timeout, args.keep)
    except KeyboardInterrupt:
        print("interrupted; bots and the server were stopped", file=sys.stderr)
        return 130
    except (ServerFailed, BotFailed, httpx.HTTPError) as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(markdown(results))
    if args.json_out is not None:
        write_json(args.json_out, results, args.bot_ports)
    return 1 if results.leftovers_killed else 0


if __name__ == "__main__":
    sys.exit(main())

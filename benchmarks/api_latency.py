"""Latency benchmark of the API: GET /api/v1/auth/me and a paged list endpoint under concurrency.

For each database backend (SQLite, PostgreSQL) it starts a real server process on a loopback
port with a fresh, throw-away database, seeds one admin user and a few hundred rows, then sends a
fixed number of requests per scenario from a pool of concurrent keep-alive connections and
reports p50/p99 latency, requests per second and errors as a markdown table.

    .venv/bin/python benchmarks/api_latency.py
    .venv/bin/python benchmarks/api_latency.py --backends sqlite --requests 300 --concurrency 1,10

Client and server share the machine, so the figures are for comparing backends and spotting
regressions on the same host, not absolute capacity.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AsyncExitStack, contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit

import asyncpg  # type: ignore[import-untyped]
import httpx

BACKENDS = ("sqlite", "postgresql")
DEFAULT_POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
LOOPBACK = "127.0.0.1"

# Rate limits are per minute and per client; this many never triggers within one run.
UNLIMITED_RATE = "10000000"

# The first user of an empty database may register and becomes admin, who sees the whole audit
# log. The password must not contain the username.
BENCH_USERNAME = "loadtester"
BENCH_PASSWORD = "Load-Test-Passw0rd-7"  # noqa: S105 - a throw-away account on a throw-away DB
BENCH_EMAIL = "loadtester@example.com"

# What the seeded database holds. Logins are the natural audit rows but each costs a ~0.2 s
# password hash on the server, so only a few are logins; profile updates (cheap, audited too)
# fill the log up to AUDIT_ROWS.
SEED_LOGINS = 5
SEED_API_KEYS = 20
AUDIT_ROWS = 200
AUDIT_PAGE_SIZE = 50

# Access tokens live 15 minutes; log in again before one could expire mid-scenario.
TOKEN_REFRESH_AFTER_SECONDS = 10 * 60
SERVER_START_TIMEOUT_SECONDS = 60.0
SERVER_STOP_TIMEOUT_SECONDS = 10.0
POSTGRES_CONNECT_TIMEOUT_SECONDS = 5.0
REQUEST_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class Endpoint:
    label: str
    path: str


ENDPOINTS = {
    "me": Endpoint("GET /api/v1/auth/me", "/api/v1/auth/me"),
    "audit": Endpoint(
        f"GET /api/v1/audit?limit={AUDIT_PAGE_SIZE}", f"/api/v1/audit?limit={AUDIT_PAGE_SIZE}"
    ),
}


@dataclass(frozen=True)
class ScenarioResult:
    backend: str
    endpoint: str
    concurrency: int
    requests: int  # measured requests sent (successes and errors), warm-up excluded
    p50_ms: float
    p99_ms: float
    requests_per_second: float
    errors: int
    time_limited: bool  # stopped by --time-limit before all requests were sent


@dataclass(frozen=True)
class BenchmarkConfig:
    backends: tuple[str, ...]
    endpoints: tuple[str, ...]
    concurrency_levels: tuple[int, ...]
    requests: int
    warmup: int
    time_limit_seconds: float
    postgres_admin_url: str
    redis_url: str | None


class BackendUnavailable(Exception):
    """The backend cannot be reached from here: skip it, do not fail the run."""


class ServerFailed(Exception):
    """The server process died, never became healthy, or refused a request of the set-up."""


# --- the server process ------------------------------------------------------------------------


def free_loopback_port() -> int:
    # Another process could take the port between this close and the server's bind; on a
    # loopback-only benchmark that race is rare enough, and start-up then fails loudly.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


def server_command(port: int) -> list[str]:
    # The console script installed next to this interpreter is what `make run` uses; fall back to
    # the module when the project is on the path but not installed.
    script = Path(sys.executable).with_name("multibot")
    launcher = [str(script)] if script.exists() else [sys.executable, "-m", "core_server.cli"]
    return [*launcher, "serve", "--host", LOOPBACK, "--port", str(port)]


def server_environment(data_dir: Path, database_url: str, redis_url: str | None) -> dict[str, str]:
    """A minimal environment, so a developer's exported settings (PROFILE, LOG_LEVEL, REDIS_URL,
    a real DATABASE_URL...) cannot change what is measured or touch a real database."""
    inherited = {
        name: os.environ[name]
        for name in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")
        if name in os.environ
    }
    settings = {
        "ENVIRONMENT": "production",
        "DATA_DIR": str(data_dir),
        "DATABASE_URL": database_url,
        "SECRET_KEY": secrets.token_urlsafe(48),
        "JWT_SECRET": secrets.token_urlsafe(48),
        "RATE_LIMIT_AUTHENTICATED": UNLIMITED_RATE,
        "RATE_LIMIT_ANONYMOUS": UNLIMITED_RATE,
        "AUTO_MIGRATE": "true",
        "PYTHONUNBUFFERED": "1",
    }
    if redis_url:
        # Our own key prefix, so counters of a real install sharing this Redis are left alone.
        settings |= {"REDIS_URL": redis_url, "REDIS_PREFIX": f"bench{secrets.token_hex(4)}"}
    return inherited | settings


def log_tail(log_path: Path, lines: int = 30) -> str:
    text = log_path.read_text(errors="replace") if log_path.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


def wait_until_healthy(base_url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_SECONDS
    with httpx.Client(base_url=base_url, timeout=2.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise ServerFailed(
                    f"the server exited with code {process.returncode} during start-up; "
                    f"last lines of its log:\n{log_tail(log_path)}"
                )
            try:
                if client.get("/health").status_code == 200:
                    return
            except httpx.TransportError:
                pass  # not listening yet (migrations run before the port opens)
            time.sleep(0.2)
    raise ServerFailed(
        f"the server did not answer /health within {SERVER_START_TIMEOUT_SECONDS:.0f} s; "
        f"last lines of its log:\n{log_tail(log_path)}"
    )


def stop_server(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()  # uvicorn shuts down gracefully on SIGTERM
    try:
        process.wait(timeout=SERVER_STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def running_server(
    workdir: Path, database_url: str, redis_url: str | None
) -> Iterator[tuple[str, Path]]:
    """Starts `multibot serve` and yields its base URL and log file; the process is always
    stopped on the way out, on errors and Ctrl-C too."""
    port = free_loopback_port()
    data_dir = workdir / "data"
    log_path = workdir / "server.log"
    with log_path.open("wb") as log:
        # A session of its own: a Ctrl-C in the terminal reaches only this script, which then
        # stops the server itself, in order, before dropping its database.
        process = subprocess.Popen(  # noqa: S603 - our own fixed command line
            server_command(port),
            cwd=workdir,  # no .env from the repository is read
            env=server_environment(data_dir, database_url, redis_url),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            base_url = f"http://{LOOPBACK}:{port}"
            wait_until_healthy(base_url, process, log_path)
            yield base_url, log_path
        finally:
            stop_server(process)


# --- databases ---------------------------------------------------------------------------------


def without_password(text: str) -> str:
    """A URL as it may be printed or saved: any password replaced by ***."""
    parts = urlsplit(text)
    if not parts.scheme or parts.password is None:
        return text
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=f"{parts.username or ''}:***@{host}").geturl()


async def run_postgres_admin_statement(admin_url: str, statement: str) -> None:
    connection = await asyncpg.connect(admin_url, timeout=POSTGRES_CONNECT_TIMEOUT_SECONDS)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@contextmanager
def throwaway_postgres_database(admin_url: str) -> Iterator[str]:
    """Creates `multibot_bench_<random>` next to the admin URL's database, yields its URL, and
    drops it afterwards."""
    name = f"multibot_bench_{secrets.token_hex(4)}"
    try:
        asyncio.run(run_postgres_admin_statement(admin_url, f'CREATE DATABASE "{name}"'))
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        raise BackendUnavailable(
            f"cannot create a database via {without_password(admin_url)} "
            f"({type(exc).__name__}: {exc})"
        ) from exc
    try:
        yield urlsplit(admin_url)._replace(path=f"/{name}").geturl()
    finally:
        # FORCE ends connections the server may have left behind, so the drop never hangs.
        drop = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
        try:
            asyncio.run(run_postgres_admin_statement(admin_url, drop))
        except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
            print(
                f"warning: could not drop database {name}, drop it by hand: {exc}", file=sys.stderr
            )


@contextmanager
def benchmark_database(backend: str, workdir: Path, config: BenchmarkConfig) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{workdir / 'bench.db'}"
    else:
        with throwaway_postgres_database(config.postgres_admin_url) as url:
            yield url


# --- seeding -----------------------------------------------------------------------------------


def envelope_data(response: httpx.Response) -> object:
    """The `data` of a successful envelope; anything else is a broken benchmark setup."""
    if response.status_code >= 400:
        raise ServerFailed(
            f"{response.request.method} {response.request.url.path} answered "
            f"{response.status_code}: {response.text[:500]}"
        )
    body = response.json()
    if not body.get("success"):
        raise ServerFailed(f"{response.request.url.path} answered a failure: {response.text}")
    return body["data"]


class BenchUser:
    """The seeded admin and a current access token."""

    def __init__(self) -> None:
        self.token = ""
        self.logged_in_at = -math.inf

    async def log_in(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            "/api/v1/auth/login", json={"username": BENCH_USERNAME, "password": BENCH_PASSWORD}
        )
        data = envelope_data(response)
        assert isinstance(data, dict)
        self.token = str(data["access_token"])
        self.logged_in_at = time.monotonic()

    async def fresh_headers(self, client: httpx.AsyncClient) -> dict[str, str]:
        if time.monotonic() - self.logged_in_at > TOKEN_REFRESH_AFTER_SECONDS:
            await self.log_in(client)
        return {"Authorization": f"Bearer {self.token}"}


async def audit_row_count(client: httpx.AsyncClient, headers: dict[str, str]) -> int:
    data = envelope_data(await client.get("/api/v1/audit?limit=1", headers=headers))
    assert isinstance(data, dict)
    return int(data["total"])


async def seed(client: httpx.AsyncClient) -> BenchUser:
    """One admin, SEED_API_KEYS API keys and at least AUDIT_ROWS audit rows, so the list
    endpoint serves full pages and counts a realistic table."""
    envelope_data(
        await client.post(
            "/api/v1/auth/register",
            json={"username": BENCH_USERNAME, "email": BENCH_EMAIL, "password": BENCH_PASSWORD},
        )
    )
    user = BenchUser()
    for _ in range(SEED_LOGINS):
        await user.log_in(client)
    headers = await user.fresh_headers(client)
    for index in range(SEED_API_KEYS):
        key = {"name": f"bench-key-{index:02d}", "scope": "read"}
        envelope_data(await client.post("/api/v1/auth/api-keys", json=key, headers=headers))
    missing = AUDIT_ROWS - await audit_row_count(client, headers)
    for index in range(missing):
        profile = {"full_name": f"Load Tester {index}"}
        envelope_data(await client.patch("/api/v1/auth/me", json=profile, headers=headers))

    rows = await audit_row_count(client, headers)
    keys = envelope_data(await client.get("/api/v1/auth/api-keys", headers=headers))
    assert rows >= AUDIT_ROWS, f"seeded only {rows} audit rows"
    assert isinstance(keys, list) and len(keys) == SEED_API_KEYS, "API keys were not all created"
    return user


# --- load --------------------------------------------------------------------------------------


def percentile(sorted_values: Sequence[float], percent: float) -> float:
    """Nearest-rank percentile: a latency some request really had, never an interpolation."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(percent / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass
class LoadOutcome:
    latencies: list[float]
    errors: int
    first_error: str | None
    sent: int
    elapsed_seconds: float
    time_limited: bool


async def drive_load(
    clients: Sequence[httpx.AsyncClient],
    path: str,
    headers: dict[str, str],
    *,
    requests: int,
    time_limit_seconds: float,
) -> LoadOutcome:
    """One worker per client shares a budget of `requests`; each sends its next request as soon
    as the previous answer is read (closed loop), so the number of clients is the number of
    requests in flight."""
    outcome = LoadOutcome([], 0, None, 0, 0.0, False)
    started = time.perf_counter()
    deadline = started + time_limit_seconds

    async def worker(client: httpx.AsyncClient) -> None:
        while outcome.sent < requests:
            if time.perf_counter() >= deadline:
                outcome.time_limited = True
                return
            outcome.sent += 1
            sent_at = time.perf_counter()
            try:
                response = await client.get(path, headers=headers)
                problem = None if response.status_code == 200 else f"HTTP {response.status_code}"
                if problem:
                    problem += f": {response.text[:200]}"
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            if problem is None:
                outcome.latencies.append(time.perf_counter() - sent_at)
            else:
                outcome.errors += 1
                outcome.first_error = outcome.first_error or problem

    await asyncio.gather(*(worker(client) for client in clients))
    outcome.elapsed_seconds = time.perf_counter() - started
    return outcome


async def run_scenario(
    base_url: str,
    user: BenchUser,
    backend: str,
    endpoint: Endpoint,
    concurrency: int,
    config: BenchmarkConfig,
) -> ScenarioResult:
    # One single-connection client per worker rather than one client with a pool of
    # `concurrency`: httpx's pool costs client CPU that grows with its size (at 50 connections
    # the client needed more CPU per request than the server), which on a shared 2-core machine
    # would be measured as server latency.
    single_connection = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(
                httpx.AsyncClient(
                    base_url=base_url, limits=single_connection, timeout=REQUEST_TIMEOUT_SECONDS
                )
            )
            for _ in range(concurrency)
        ]
        headers = await user.fresh_headers(clients[0])
        envelope_data(await clients[0].get(endpoint.path, headers=headers))
        # The warm-up opens every keep-alive connection and warms the server's database pool
        # and caches; only then is the clock started.
        warmup = max(config.warmup, concurrency)
        await drive_load(
            clients,
            endpoint.path,
            headers,
            requests=warmup,
            time_limit_seconds=config.time_limit_seconds,
        )
        outcome = await drive_load(
            clients,
            endpoint.path,
            headers,
            requests=config.requests,
            time_limit_seconds=config.time_limit_seconds,
        )
    if outcome.first_error:
        print(f"  first error: {outcome.first_error}", file=sys.stderr)
    latencies = sorted(outcome.latencies)
    return ScenarioResult(
        backend=backend,
        endpoint=endpoint.label,
        concurrency=concurrency,
        requests=outcome.sent,
        p50_ms=round(percentile(latencies, 50) * 1000, 2),
        p99_ms=round(percentile(latencies, 99) * 1000, 2),
        # Successful answers per second of the measured phase: errors are not throughput.
        requests_per_second=round(len(latencies) / outcome.elapsed_seconds, 1),
        errors=outcome.errors,
        time_limited=outcome.time_limited,
    )


async def benchmark_server(
    backend: str, base_url: str, config: BenchmarkConfig
) -> list[ScenarioResult]:
    async with httpx.AsyncClient(base_url=base_url, timeout=REQUEST_TIMEOUT_SECONDS) as client:
        seed_started = time.perf_counter()
        user = await seed(client)
        print(f"[{backend}] seeded in {time.perf_counter() - seed_started:.1f} s", file=sys.stderr)
    results = []
    for endpoint_name in config.endpoints:
        for concurrency in config.concurrency_levels:
            result = await run_scenario(
                base_url, user, backend, ENDPOINTS[endpoint_name], concurrency, config
            )
            print(
                f"[{backend}] {result.endpoint} c={concurrency}: p50 {result.p50_ms} ms, "
                f"p99 {result.p99_ms} ms, {result.requests_per_second} req/s, "
                f"{result.errors} errors",
                file=sys.stderr,
            )
            results.append(result)
    return results


def benchmark_backend(backend: str, config: BenchmarkConfig) -> list[ScenarioResult]:
    with tempfile.TemporaryDirectory(prefix=f"multibot-bench-{backend}-") as tmp:
        workdir = Path(tmp)
        with benchmark_database(backend, workdir, config) as database_url:
            print(f"[{backend}] starting the server", file=sys.stderr)
            with running_server(workdir, database_url, config.redis_url) as (base_url, log_path):
                try:
                    return asyncio.run(benchmark_server(backend, base_url, config))
                except ServerFailed as exc:
                    raise ServerFailed(
                        f"{exc}\nlast lines of the server log:\n{log_tail(log_path)}"
                    ) from exc


# --- reporting and the command line ------------------------------------------------------------


def markdown_table(results: Sequence[ScenarioResult]) -> str:
    header = (
        "| backend | endpoint | concurrency | requests | p50 ms | p99 ms | requests/s | errors |\n"
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    )
    rows = [
        f"| {r.backend} | `{r.endpoint}` | {r.concurrency} | "
        f"{r.requests}{'*' if r.time_limited else ''} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | "
        f"{r.requests_per_second:.0f} | {r.errors} |"
        for r in results
    ]
    table = "\n".join([header, *rows])
    if any(r.time_limited for r in results):
        table += "\n\n\\* stopped by --time-limit before every request was sent."
    return table


def comma_separated(choices: Sequence[str]) -> Callable[[str], tuple[str, ...]]:
    def parse(text: str) -> tuple[str, ...]:
        items = tuple(item.strip() for item in text.split(",") if item.strip())
        if not items or not set(items) <= set(choices):
            raise argparse.ArgumentTypeError(
                f"invalid list {text!r} (choose from {', '.join(choices)})"
            )
        return items

    return parse


def positive_int_list(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(item) for item in text.split(",") if item.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a list of integers: {text!r}") from exc
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"need positive integers: {text!r}")
    return values


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text!r}")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be above 0: {text!r}")
    return value


def parse_args(argv: Sequence[str] | None) -> tuple[BenchmarkConfig, Path | None]:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--backends",
        type=comma_separated(BACKENDS),
        default=",".join(BACKENDS),
        help="comma-separated database backends to benchmark",
    )
    parser.add_argument(
        "--endpoints",
        type=comma_separated(tuple(ENDPOINTS)),
        default=",".join(ENDPOINTS),
        help="comma-separated endpoints: me (GET /api/v1/auth/me), audit (GET /api/v1/audit)",
    )
    parser.add_argument(
        "--concurrency",
        type=positive_int_list,
        default="1,10,50",
        help="comma-separated numbers of requests in flight",
    )
    parser.add_argument(
        "--requests", type=positive_int, default=1000, help="measured requests per scenario"
    )
    parser.add_argument(
        "--warmup", type=positive_int, default=100, help="unmeasured requests before each scenario"
    )
    parser.add_argument(
        "--time-limit",
        type=positive_float,
        default=60.0,
        help="seconds after which a scenario stops sending (bounds a slow run)",
    )
    parser.add_argument(
        "--postgres-admin-url",
        default=DEFAULT_POSTGRES_ADMIN_URL,
        help="where the throw-away database is created and dropped",
    )
    parser.add_argument(
        "--redis-url",
        default=None,
        help="give the server REDIS_URL (rate-limit counters in Redis); default: in memory",
    )
    parser.add_argument("--json-out", type=Path, default=None, help="also write results as JSON")
    args = parser.parse_args(argv)
    config = BenchmarkConfig(
        backends=args.backends,
        endpoints=args.endpoints,
        concurrency_levels=args.concurrency,
        requests=args.requests,
        warmup=args.warmup,
        time_limit_seconds=args.time_limit,
        postgres_admin_url=args.postgres_admin_url,
        redis_url=args.redis_url,
    )
    return config, args.json_out


def write_json(
    path: Path, config: BenchmarkConfig, results: Sequence[ScenarioResult], skipped: dict[str, str]
) -> None:
    report = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": shlex.join([Path(sys.executable).name, *map(without_password, sys.argv)]),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "config": asdict(config)
        | {
            "postgres_admin_url": without_password(config.postgres_admin_url),
            "redis_url": config.redis_url and without_password(config.redis_url),
        },
        "skipped_backends": skipped,
        "results": [asdict(result) for result in results],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")


def _interrupt_on_sigterm(signum: int, frame: FrameType | None) -> None:
    # Handle `kill` exactly like Ctrl-C: inside asyncio.run the SIGINT handler cancels the load
    # cleanly, outside it raises KeyboardInterrupt; either way the server and the throw-away
    # database are cleaned up on the way out.
    signal.raise_signal(signal.SIGINT)


def main(argv: Sequence[str] | None = None) -> int:
    config, json_out = parse_args(argv)
    # A shell starts background jobs with SIGINT ignored; restore it so `kill -INT` and the
    # SIGTERM handler above interrupt a backgrounded run too.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt_on_sigterm)
    results: list[ScenarioResult] = []
    skipped: dict[str, str] = {}
    try:
        for backend in config.backends:
            try:
                results.extend(benchmark_backend(backend, config))
            except BackendUnavailable as exc:
                skipped[backend] = str(exc)
                print(f"[{backend}] SKIPPED: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        print(
            "interrupted; the server was stopped and its throw-away data removed", file=sys.stderr
        )
        return 130
    except ServerFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1

    if results:
        print(markdown_table(results))
    for backend, reason in skipped.items():
        print(f"\n{backend} skipped: {reason}")
    if json_out is not None:
        write_json(json_out, config, results, skipped)
    if not results:
        print("error: no backend could be benchmarked", file=sys.stderr)
        return 1
    if any(result.errors for result in results):
        print("error: some requests failed; see the errors column", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

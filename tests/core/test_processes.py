"""Several real server processes together: shared rate limits in Redis, a Redis outage,
concurrent start-up on one fresh database, and the request body limit over real HTTP."""

from __future__ import annotations

import asyncio
import math
import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.conftest import POSTGRES_ADMIN_URL, REDIS_URL
from tests.helpers import assert_error, assert_ok
from tests.processes import ServerPool, ServerProcess, free_port, server_env

HEALTH = "/api/v1/monitoring/health"
PASSWORD = "Sh4red-Budget-Pw"
MIB = 1024 * 1024


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[ServerPool]:
    with ServerPool(tmp_path) as pool:
        yield pool


def start_together(pool: ServerPool, env: dict[str, str], count: int = 2) -> list[ServerProcess]:
    """Spawn `count` servers at the same moment on the same settings, then wait for all."""
    started = [pool.spawn_serve(env) for _ in range(count)]
    for server in started:
        server.wait_healthy()
    return started


def client_from(address: str) -> httpx.Client:
    """A client whose connections come from this loopback address (127.0.0.0/8 is all ours),
    so each test client is its own anonymous caller to the limiter."""
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=20)


def assert_rate_headers(response: httpx.Response, limit: int, remaining: int) -> None:
    assert response.headers.get("X-RateLimit-Limit") == str(limit), dict(response.headers)
    assert response.headers.get("X-RateLimit-Remaining") == str(remaining), dict(response.headers)
    # A unix time in whole seconds, within the current one-minute window (+1 s for rounding up).
    reset = int(response.headers["X-RateLimit-Reset"])
    now = time.time()
    assert math.floor(now) <= reset <= now + 61, (reset, now)


def assert_rate_limited(response: httpx.Response, limit: int) -> int:
    """A 429 in the error envelope; returns its Retry-After (checked by the caller at the end,
    so one wrong value does not hide the rest of the behaviour)."""
    error = assert_error(response, 429, "RATE_LIMITED")
    assert_rate_headers(response, limit=limit, remaining=0)
    retry_after = response.headers.get("Retry-After", "")
    assert retry_after.isdigit(), dict(response.headers)
    assert error["details"].get("limit") == limit, error
    return int(retry_after)


@pytest.mark.redis
def test_rate_limits_are_shared_across_processes_through_redis(
    tmp_path: Path, servers: ServerPool
) -> None:
    env = server_env(
        tmp_path / "data",
        REDIS_URL=REDIS_URL,
        RATE_LIMIT_ANONYMOUS="6",
        RATE_LIMIT_AUTHENTICATED="8",
    )
    a, b = start_together(servers, env)
    urls = [a.base_url, b.base_url]
    retry_afters: list[int] = []

    with client_from("127.0.0.2") as anonymous:
        # Liveness is never counted.
        for url in urls:
            live = anonymous.get(f"{url}/health")
            assert live.status_code == 200
            assert "X-RateLimit-Limit" not in live.headers

        for n in range(6):
            response = anonymous.get(f"{urls[n % 2]}{HEALTH}")
            assert_ok(response)
            assert_rate_headers(response, limit=6, remaining=5 - n)

        for url in (urls[0], urls[1]):
            retry_afters.append(assert_rate_limited(anonymous.get(f"{url}{HEALTH}"), limit=6))
        for url in urls:
            live = anonymous.get(f"{url}/health")
            assert live.status_code == 200, live.text
            assert "X-RateLimit-Limit" not in live.headers

    with client_from("127.0.0.3") as user:
        register = user.post(
            f"{a.base_url}/api/v1/auth/register",
            json={"username": "sharer", "email": "sharer@example.com", "password": PASSWORD},
        )
        assert_ok(register, 201)
        assert_rate_headers(register, limit=6, remaining=5)  # its own address, its own budget
        login = user.post(
            f"{b.base_url}/api/v1/auth/login", json={"username": "sharer", "password": PASSWORD}
        )
        tokens = assert_ok(login)
        assert_rate_headers(login, limit=6, remaining=4)
        bearer = {"Authorization": f"Bearer {tokens['access_token']}"}

        for n in range(8):
            response = user.get(f"{urls[n % 2]}/api/v1/auth/me", headers=bearer)
            assert assert_ok(response)["username"] == "sharer"
            assert_rate_headers(response, limit=8, remaining=7 - n)
        for url in urls:
            retry_afters.append(
                assert_rate_limited(user.get(f"{url}/api/v1/auth/me", headers=bearer), limit=8)
            )

        # The same address without the token still has its anonymous budget left.
        anonymous_again = user.get(f"{b.base_url}{HEALTH}")
        assert_ok(anonymous_again)
        assert_rate_headers(anonymous_again, limit=6, remaining=3)

    # The user's budget follows the user, not the address: from another address it is spent too.
    with client_from("127.0.0.5") as elsewhere:
        retry_afters.append(
            assert_rate_limited(elsewhere.get(f"{a.base_url}{HEALTH}", headers=bearer), limit=8)
        )
        fresh = elsewhere.get(f"{a.base_url}{HEALTH}")
        assert_ok(fresh)
        assert_rate_headers(fresh, limit=6, remaining=5)

    # A per-minute window never needs a wait of more than 60 s.
    assert all(1 <= seconds <= 60 for seconds in retry_afters), (
        f"Retry-After values {retry_afters}: each must be 1..60 for a per-minute limit"
    )


def test_server_keeps_serving_when_redis_is_unreachable(
    tmp_path: Path, servers: ServerPool
) -> None:
    closed = free_port()  # nothing listens there
    env = server_env(
        tmp_path / "data", REDIS_URL=f"redis://127.0.0.1:{closed}/0", RATE_LIMIT_ANONYMOUS="2"
    )
    server = servers.start(env)

    with client_from("127.0.0.4") as client:
        # More requests than the limit allows: the limiter fails open instead of refusing them.
        for _ in range(5):
            response = client.get(f"{server.base_url}{HEALTH}")
            health = assert_ok(response)
            assert health["status"] == "degraded", health
            assert health["components"]["redis"]["status"] == "unhealthy", health
            assert health["components"]["database"]["status"] == "healthy", health
        assert "degraded" in response.json()["message"]
    assert server.is_running()


def _sqlite_state(path: Path) -> tuple[set[str], int]:
    connection = sqlite3.connect(path)
    try:
        tables = {
            name
            for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        versions = connection.execute("SELECT count(*) FROM alembic_version").fetchone()[0]
    finally:
        connection.close()
    return tables, versions


def _register_on_one_use_on_other(a: ServerProcess, b: ServerProcess) -> None:
    """A user made through one process can log in through the other and use the token on the
    first: both see one schema, one database and one signing key."""
    with httpx.Client(timeout=20) as client:
        assert_ok(
            client.post(
                f"{a.base_url}/api/v1/auth/register",
                json={"username": "first", "email": "first@example.com", "password": PASSWORD},
            ),
            201,
        )
        tokens = assert_ok(
            client.post(
                f"{b.base_url}/api/v1/auth/login",
                json={"username": "first", "password": PASSWORD},
            )
        )
        me = client.get(
            f"{a.base_url}/api/v1/auth/me",
            headers={"Authorization": f"Bearer {tokens['access_token']}"},
        )
        assert assert_ok(me)["role"] == "admin"
        for server in (a, b):
            health = assert_ok(client.get(f"{server.base_url}{HEALTH}"))
            assert health["components"]["database"]["status"] == "healthy", health


def test_two_processes_start_together_on_a_fresh_sqlite_database(
    tmp_path: Path, servers: ServerPool
) -> None:
    data_dir = tmp_path / "data"
    env = server_env(data_dir, AUTO_MIGRATE="true", RATE_LIMIT_ANONYMOUS="1000")
    # No secrets given: outside production each process reads or creates them in DATA_DIR, and
    # both must end up with the same ones.
    del env["SECRET_KEY"], env["JWT_SECRET"]
    assert not data_dir.exists()

    a, b = start_together(servers, env)

    tables, versions = _sqlite_state(data_dir / "multibot.db")
    assert {"users", "bots", "strategies", "audit_log", "api_keys"} <= tables
    assert versions == 1
    _register_on_one_use_on_other(a, b)


async def _postgres_admin(sql: str) -> None:
    connection = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=10)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


async def _postgres_state(url: str) -> tuple[set[str], int]:
    connection = await asyncpg.connect(url, timeout=10)
    try:
        rows = await connection.fetch("SELECT tablename FROM pg_tables WHERE schemaname='public'")
        versions = await connection.fetchval("SELECT count(*) FROM alembic_version")
    finally:
        await connection.close()
    return {row["tablename"] for row in rows}, int(versions)


@pytest.fixture
def fresh_postgres_url() -> Iterator[str]:
    name = f"multibot_proc_{uuid.uuid4().hex[:10]}"
    asyncio.run(_postgres_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{POSTGRES_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        asyncio.run(_postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.mark.postgres
def test_two_processes_start_together_on_a_fresh_postgres_database(
    tmp_path: Path, servers: ServerPool, fresh_postgres_url: str
) -> None:
    env = server_env(
        tmp_path / "data",
        DATABASE_URL=fresh_postgres_url,
        AUTO_MIGRATE="true",
        RATE_LIMIT_ANONYMOUS="1000",
    )
    a, b = start_together(servers, env)

    tables, versions = asyncio.run(_postgres_state(fresh_postgres_url))
    assert {"users", "bots", "strategies", "audit_log", "api_keys"} <= tables
    assert versions == 1
    _register_on_one_use_on_other(a, b)


@pytest.fixture(scope="module")
def body_limit_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    work_dir = tmp_path_factory.mktemp("body-limit")
    env = server_env(work_dir / "data", RATE_LIMIT_ANONYMOUS="1000")
    with ServerPool(work_dir) as pool:
        yield pool.start(env)


def _chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        chunk = b" " * min(size, total - sent)
        sent += len(chunk)
        yield chunk


@pytest.mark.parametrize("path", ["/api/v1/auth/login", "/api/v1/auth/register"])
@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_request_body_over_one_mib_is_refused(
    body_limit_server: ServerProcess, path: str, framing: str
) -> None:
    server = body_limit_server
    size = MIB + 1
    headers = {"Content-Type": "application/json"}
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        if framing == "content-length":
            response = client.post(path, content=b" " * size, headers=headers)
        else:
            response = client.post(path, content=_chunks(size), headers=headers)
            assert "content-length" not in {k.lower() for k in response.request.headers}
        error = assert_error(response, 413, "PAYLOAD_TOO_LARGE")
        assert error["details"].get("limit_bytes") == MIB, error

    # The server is still up and answers normal requests.
    assert server.is_running(), server.log()
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        assert client.get("/health").status_code == 200
        small = client.post(path, json={}, headers=headers)
        assert_error(small, 422, "VALIDATION_ERROR")

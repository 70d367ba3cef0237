"""The `multibot` command line and the seed's start commands, run as real processes."""

from __future__ import annotations

import asyncio
import secrets
import socket
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.conftest import POSTGRES_ADMIN_URL
from tests.processes import (
    PYTHON,
    REPO_ROOT,
    ServerPool,
    free_port,
    run_cli,
    server_env,
)

EXPECTED_TABLES = {"users", "bots", "strategies", "audit_log", "api_keys"}
ADMIN_PASSWORD = "Corner-Office-42"


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[ServerPool]:
    with ServerPool(tmp_path) as pool:
        yield pool


def sqlite_tables(path: Path) -> set[str]:
    connection = sqlite3.connect(path)
    try:
        rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    finally:
        connection.close()
    return {name for (name,) in rows}


def assert_clean_failure(result: subprocess.CompletedProcess[str], *fragments: str) -> str:
    """Exit code 1, every fragment in the message, and no Python traceback."""
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" not in output, output
    for fragment in fragments:
        assert fragment in output, output
    return output


def test_db_upgrade_creates_the_sqlite_schema_and_is_idempotent(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = server_env(data_dir)

    first = run_cli(["db", "upgrade"], env=env, cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    database = data_dir / "multibot.db"
    assert database.is_file()
    assert str(database) in first.stdout
    assert sqlite_tables(database) >= EXPECTED_TABLES

    second = run_cli(["db", "upgrade"], env=env, cwd=tmp_path)
    assert second.returncode == 0, second.stdout + second.stderr
    assert sqlite_tables(database) >= EXPECTED_TABLES
    connection = sqlite3.connect(database)
    try:
        versions = connection.execute("SELECT version_num FROM alembic_version").fetchall()
    finally:
        connection.close()
    assert len(versions) == 1


def test_create_user_makes_an_admin_who_can_log_in(tmp_path: Path, servers: ServerPool) -> None:
    env = server_env(tmp_path / "data")

    created = run_cli(
        ["create-user", "boss", "--admin", "--password", ADMIN_PASSWORD], env=env, cwd=tmp_path
    )
    assert created.returncode == 0, created.stdout + created.stderr
    assert "boss" in created.stdout and "admin" in created.stdout

    again = run_cli(
        ["create-user", "boss", "--password", "Another-Passw0rd"], env=env, cwd=tmp_path
    )
    assert_clean_failure(again, "already registered")

    weak = run_cli(["create-user", "intern", "--password", "short"], env=env, cwd=tmp_path)
    assert_clean_failure(weak, "password", "at least 10 characters")

    server = servers.start(env)
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        login = client.post(
            "/api/v1/auth/login", json={"username": "boss", "password": ADMIN_PASSWORD}
        )
        assert login.status_code == 200, login.text
        token = login.json()["data"]["access_token"]
        me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200, me.text
        assert me.json()["data"]["username"] == "boss"
        assert me.json()["data"]["role"] == "admin"
        # The weak-password user was never created.
        refused = client.post(
            "/api/v1/auth/login", json={"username": "intern", "password": "short"}
        )
        assert refused.status_code in (401, 422), refused.text


def test_seed_init_database_creates_the_database(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    code = (
        "from core_server.database import init_database; import asyncio; "
        "asyncio.run(init_database())"
    )
    result = run_cli(["-c", code], env=server_env(data_dir), cwd=tmp_path, executable=PYTHON)
    assert result.returncode == 0, result.stdout + result.stderr
    assert sqlite_tables(data_dir / "multibot.db") >= EXPECTED_TABLES


def _port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))  # noqa: S104 - main.py listens on every address
        except OSError:
            return False
        return True


def test_seed_main_py_serves_health_on_port_8000(tmp_path: Path, servers: ServerPool) -> None:
    deadline = time.monotonic() + 10
    while not _port_is_free(8000):
        if time.monotonic() > deadline:
            pytest.fail(
                "port 8000 is in use by another program; `python core_server/main.py` always "
                "listens on 8000, so stop that program and run this test again"
            )
        time.sleep(0.5)

    server = servers.spawn(
        [PYTHON, str(REPO_ROOT / "core_server" / "main.py")],
        env=server_env(tmp_path / "data"),
        base_url="http://127.0.0.1:8000",
    )
    server.wait_healthy()
    response = httpx.get(f"{server.base_url}/health", timeout=10)
    body = response.json()
    assert body["success"] is True
    assert body["data"]["status"] == "ok"
    # It migrated its own database in DATA_DIR on start-up.
    assert sqlite_tables(tmp_path / "data" / "multibot.db") >= EXPECTED_TABLES


STRONG_SECRET = secrets.token_urlsafe(36)  # 48 characters


@pytest.mark.parametrize(
    ("secrets_env", "named", "not_named"),
    [
        pytest.param({}, "SECRET_KEY", None, id="no-secret-key"),
        pytest.param(
            {"SECRET_KEY": STRONG_SECRET, "JWT_SECRET": "your-jwt-secret-change-in-production"},
            "JWT_SECRET",
            "SECRET_KEY",
            id="example-jwt-secret",
        ),
        pytest.param(
            {"SECRET_KEY": STRONG_SECRET, "JWT_SECRET": "too-short-a-secret"},
            "JWT_SECRET",
            "SECRET_KEY",
            id="short-jwt-secret",
        ),
    ],
)
def test_production_refuses_weak_secrets(
    tmp_path: Path,
    servers: ServerPool,
    secrets_env: dict[str, str],
    named: str,
    not_named: str | None,
) -> None:
    env = server_env(tmp_path / "data", ENVIRONMENT="production")
    del env["SECRET_KEY"], env["JWT_SECRET"]
    env.update(secrets_env)

    server = servers.spawn_serve(env)
    code = server.wait_exit(timeout=30)
    output = server.log()
    assert code != 0, output
    assert named in output, output
    if not_named is not None:
        assert f"{not_named} is" not in output, output
    assert "Traceback" not in output, output
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.base_url}/health", timeout=2)
    # Nothing was written with a generated secret in its place.
    assert not (tmp_path / "data" / ".secret_key").exists()
    assert not (tmp_path / "data" / ".jwt_secret").exists()


def test_production_starts_with_strong_secrets(tmp_path: Path, servers: ServerPool) -> None:
    env = server_env(
        tmp_path / "data",
        ENVIRONMENT="production",
        SECRET_KEY=secrets.token_urlsafe(36),
        JWT_SECRET=secrets.token_urlsafe(36),
    )
    server = servers.start(env)
    response = httpx.get(f"{server.base_url}/api/v1/monitoring/health", timeout=10)
    assert response.status_code == 200, response.text
    assert response.json()["data"]["environment"] == "production"


async def _postgres_admin(sql: str) -> None:
    connection = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=10)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@pytest.fixture
def fresh_postgres_url() -> Iterator[str]:
    """An empty PostgreSQL database (no schema), dropped afterwards; a plain postgresql:// URL
    as the seed's .env has it."""
    name = f"multibot_cli_{uuid.uuid4().hex[:10]}"
    asyncio.run(_postgres_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{POSTGRES_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        asyncio.run(_postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _postgres_tables(url: str) -> set[str]:
    connection = await asyncpg.connect(url, timeout=10)
    try:
        rows = await connection.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    finally:
        await connection.close()
    return {row["tablename"] for row in rows}


@pytest.mark.postgres
def test_serve_migrates_postgres_at_start_up(
    tmp_path: Path, servers: ServerPool, fresh_postgres_url: str
) -> None:
    assert asyncio.run(_postgres_tables(fresh_postgres_url)) == set()
    env = server_env(tmp_path / "data", DATABASE_URL=fresh_postgres_url)

    server = servers.start(env, port=free_port())
    response = httpx.get(f"{server.base_url}/api/v1/monitoring/health", timeout=10)
    assert response.status_code == 200, response.text
    health = response.json()["data"]
    assert health["components"]["database"]["status"] == "healthy", health
    assert health["status"] == "healthy", health
    assert asyncio.run(_postgres_tables(fresh_postgres_url)) >= EXPECTED_TABLES
    # SQLite was not used on the side.
    assert not (tmp_path / "data" / "multibot.db").exists()

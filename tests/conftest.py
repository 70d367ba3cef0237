"""Fixtures: real SQLite and PostgreSQL databases, the real app, and users to act as."""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import httpx
import pytest
import redis
from fastapi import FastAPI
from sqlalchemy import text

from core_server.core.app import create_application
from core_server.core.database import Database, upgrade_schema
from core_server.core.settings import Environment, Settings
from core_server.models import Base
from tests.helpers import UserFactory

if TYPE_CHECKING:  # tests.processes imports this module
    from tests.processes import PrivateRedis

POSTGRES_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
# In CI (.ci/run sets it) a missing PostgreSQL or Redis fails the run instead of skipping.
REQUIRE_SERVICES = os.environ.get("MULTIBOT_REQUIRE_SERVICES") == "1"


def _postgres_available() -> bool:
    async def probe() -> None:
        connection = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=3)
        await connection.close()

    try:
        asyncio.run(probe())
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    return True


def _redis_available() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping())
    except redis.RedisError:
        return False


SERVICES = {"postgres": _postgres_available(), "redis": _redis_available()}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for name, available in SERVICES.items():
        if available:
            continue
        if REQUIRE_SERVICES:
            raise pytest.UsageError(f"{name} is not reachable but MULTIBOT_REQUIRE_SERVICES=1")
        for item in items:
            if name in item.keywords:
                item.add_marker(pytest.mark.skipif(True, reason=f"{name} is not running here"))


TEST_SECRET_KEY = "test-secret-key-" + "k" * 40
TEST_JWT_SECRET = "test-jwt-secret-" + "j" * 40


def make_settings(data_dir: Path, database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "environment": Environment.test,
        "secret_key": TEST_SECRET_KEY,
        "jwt_secret": TEST_JWT_SECRET,
        "data_dir": data_dir,
        "database_url": database_url,
        "auto_migrate": False,
        "rate_limit_authenticated": 100_000,
        "rate_limit_anonymous": 100_000,
        "redis_prefix": f"test-{uuid.uuid4().hex[:12]}",
        # Bots of concurrent test runs (and of a `make run` on this machine) never share ports.
        "bot_port_range_start": (port := random.randrange(20_000, 40_000, 200)),
        "bot_port_range_end": port + 199,
        "bot_start_timeout_seconds": 60.0,
        "bot_stop_timeout_seconds": 15.0,
        "supervisor_interval_seconds": 0.5,
        "demo_fleet": False,
        "simulator_enabled": False,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file; each test gets its own copy."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    upgrade_schema(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throw-away PostgreSQL database, migrated once for the whole run."""
    name = f"multibot_test_{uuid.uuid4().hex[:10]}"

    async def admin(sql: str) -> None:
        connection = await asyncpg.connect(POSTGRES_ADMIN_URL)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    url = f"{url}/{name}"
    upgrade_schema(url)
    yield url
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    """A SQLite database only, for tests whose subject is not storage (real bots, processes)."""
    path = tmp_path / "multibot.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> Iterator[str]:
    if request.param == "sqlite":
        path = tmp_path / "multibot.db"
        shutil.copy(sqlite_template, path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    url = request.getfixturevalue("postgres_url")
    yield url
    asyncio.run(_truncate_all(url))


async def _truncate_all(url: str) -> None:
    database = Database(url)
    tables = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
    async with database.engine.begin() as connection:
        await connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    await database.dispose()


@pytest.fixture(scope="session")
def freqtrade_templates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """freqtrade's own user directory (with SampleStrategy), made once by the real
    `freqtrade create-userdir`, and copied into each test's data directory."""
    from core_server.core.settings import Settings as BaseSettings
    from core_server.freqtrade.commands import freqtrade_executable
    from core_server.freqtrade.strategies import ensure_templates

    target = tmp_path_factory.mktemp("freqtrade-templates") / "templates"
    executable = freqtrade_executable(BaseSettings(_env_file=None))  # type: ignore[call-arg]
    asyncio.run(ensure_templates(executable, target))
    return target


@pytest.fixture
def data_dir(tmp_path: Path, freqtrade_templates: Path) -> Path:
    data = tmp_path / "data"
    shutil.copytree(freqtrade_templates, data / "freqtrade" / "templates")
    return data


@pytest.fixture
def settings(data_dir: Path, database_url: str) -> Settings:
    return make_settings(data_dir, database_url)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_application(settings=settings)
    async with application.router.lifespan_context(application):
        yield application


def asgi_client(application: FastAPI) -> httpx.AsyncClient:
    # raise_app_exceptions=False: a 500 is a response to look at, as a real client gets it.
    transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(app) as http:
        yield http


@pytest.fixture
def users(app: FastAPI, client: httpx.AsyncClient) -> UserFactory:
    return UserFactory(app, client)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    """A redis-server of the test's own, which the test may kill and start again."""
    from tests.processes import PrivateRedis

    server = PrivateRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.kill()

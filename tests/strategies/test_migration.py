"""Migration 0005 matches the models, and turns strategies stored before versions existed into
version 1 of themselves, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Connection

from core_server.core.database import Database, upgrade_schema
from core_server.models import Base
from tests.conftest import POSTGRES_ADMIN_URL

OURS = frozenset({"strategies", "strategy_versions", "strategy_sources", "bots"})


def _table(diff: Any) -> str | None:
    if isinstance(diff, list):  # modify_* diffs come as lists of tuples
        return _table(diff[0])
    kind, *rest = diff
    if kind in ("add_table", "remove_table"):
        return str(rest[0].name)
    if kind in ("add_index", "remove_index", "add_constraint", "remove_constraint"):
        return str(rest[0].table.name)
    if kind in ("add_fk", "remove_fk"):
        return str(rest[0].parent.name)
    return str(rest[1])  # add_column / remove_column / modify_*: (schema, table, ...)


async def _differences(url: str) -> list[Any]:
    database = Database(url)

    def compare(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return [d for d in compare_metadata(context, Base.metadata) if _table(d) in OURS]

    try:
        async with database.engine.connect() as connection:
            return await connection.run_sync(compare)
    finally:
        await database.dispose()


async def test_models_match_the_migrations(database_url: str) -> None:
    assert await _differences(database_url) == []


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'migrate.db'}"
        return
    name = f"multibot_migrate_{uuid.uuid4().hex[:10]}"

    async def admin(sql: str) -> None:
        connection = await asyncpg.connect(POSTGRES_ADMIN_URL)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    yield f"{base}/{name}"
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def test_strategies_stored_before_versions_become_version_one(empty_database: str) -> None:
    await asyncio.to_thread(upgrade_schema, empty_database, "0004")
    database = Database(empty_database)
    try:
        async with database.transaction() as session:
            await session.execute(
                text(
                    "INSERT INTO users (username, email, hashed_password, is_active, "
                    "is_superuser, role, mfa_enabled, created_at, updated_at) VALUES "
                    "('old', 'old@example.com', 'x', true, false, 'trader', false, "
                    "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                )
            )
            await session.execute(
                text(
                    "INSERT INTO strategies (name, code, parameters, is_active, version, tags, "
                    "created_by, created_at, updated_at) VALUES ('Legacy', 'class Legacy: ...', "
                    "'{}', true, '1.0.0', '[]', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                )
            )
        await asyncio.to_thread(upgrade_schema, empty_database, "0005")
        async with database.transaction() as session:
            versions = (
                await session.execute(
                    text("SELECT number, class_name, code, message FROM strategy_versions")
                )
            ).all()
            current = (await session.execute(text("SELECT version FROM strategies"))).scalar()
    finally:
        await database.dispose()
    assert [tuple(v[:3]) for v in versions] == [(1, "Legacy", "class Legacy: ...")]
    assert "'1.0.0'" in versions[0][3] and current == "1"

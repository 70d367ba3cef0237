"""The database: one async engine per process, SQLite by default and PostgreSQL when configured."""

from __future__ import annotations

import asyncio
import fcntl
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, MetaData, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from core_server.core.settings import Settings

logger = logging.getLogger(__name__)

# Stable constraint names, so Alembic migrations name the same thing on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware timestamp on every backend: SQLite drops the zone, so we put UTC back."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UtcDateTime column")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UtcDateTime}


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers work while a writer commits; busy_timeout makes a second process wait for
    # the write lock instead of failing at once; foreign keys are off in SQLite unless asked.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


AfterRollback = Callable[[AsyncSession], Awaitable[None]]
AfterCommit = Callable[[], None]
_AFTER_ROLLBACK = "after_rollback"
_AFTER_COMMIT = "after_commit"


def after_commit(session: AsyncSession, callback: AfterCommit) -> None:
    """Run `callback` once this session's transaction has committed: work that must not happen
    for a request that rolls back (starting a bot process, sending an event)."""
    session.info.setdefault(_AFTER_COMMIT, []).append(callback)


def on_rollback(session: AsyncSession, callback: AfterRollback) -> None:
    """Run `callback` in a fresh transaction if this session's transaction is rolled back.

    A refused login must leave its audit row even though the request fails. Writing it at once
    in a second transaction would wait on the request's own write lock under SQLite, so it waits
    until the request's transaction has ended.
    """
    session.info.setdefault(_AFTER_ROLLBACK, []).append(callback)


class Database:
    """The engine and session factory of one process."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        if self.is_sqlite:
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            self.engine: AsyncEngine = create_async_engine(url, echo=echo)
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        else:
            self.engine = create_async_engine(
                url,
                echo=echo,
                # Connections beyond pool_size are opened and closed per use, which costs more
                # than the query; the collector keeps its own use to a few (DB_SLOTS).
                pool_size=20,
                max_overflow=10,
                pool_timeout=30,
                pool_recycle=1800,
                pool_pre_ping=True,
            )
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        return cls(settings.resolved_database_url)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session that commits when the block ends cleanly and rolls back otherwise; work
        registered with `on_rollback` then runs in a fresh transaction."""
        async with self.sessionmaker() as session:
            try:
                yield session
                await session.commit()
                for callback in session.info.pop(_AFTER_COMMIT, []):
                    callback()
            except BaseException:
                session.info.pop(_AFTER_COMMIT, None)
                await session.rollback()
                await self._after_rollback(session)
                raise

    async def _after_rollback(self, session: AsyncSession) -> None:
        callbacks: list[AfterRollback] = session.info.pop(_AFTER_ROLLBACK, [])
        if not callbacks:
            return
        try:
            async with self.sessionmaker() as fresh:
                for callback in callbacks:
                    await callback(fresh)
                await fresh.commit()
        except Exception:
            logger.exception("could not record what a failed request had to keep")

    async def dispose(self) -> None:
        await self.engine.dispose()


MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def upgrade_schema(url: str, revision: str = "head") -> None:
    """Apply Alembic migrations (blocking; call it from a thread inside async code).

    Several server processes may start together: PostgreSQL serialises them with an advisory lock
    in env.py, and for a SQLite file a lock file beside it does the same.
    """
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        database_file = Path(parsed.database)
        database_file.parent.mkdir(parents=True, exist_ok=True)
        with open(f"{database_file}.migrate.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            command.upgrade(config, revision)
    else:
        command.upgrade(config, revision)


async def init_database(settings: Settings | None = None) -> None:
    """Create or upgrade the schema (the seed's Installation step)."""
    from core_server.core.settings import get_settings

    settings = settings or get_settings()
    await asyncio.to_thread(upgrade_schema, settings.resolved_database_url)

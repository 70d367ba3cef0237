from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core_server.core.app import create_application
from tests.conftest import make_settings
from tests.realtime.support import LiveServer, live_server


@pytest.fixture
async def live(tmp_path: Path, sqlite_url: str) -> AsyncIterator[LiveServer]:
    """The API on a real port, SQLite only: for tests of the protocol itself."""
    app = create_application(settings=make_settings(tmp_path / "data", sqlite_url))
    async with live_server(app) as server:
        yield server


@pytest.fixture
async def live_db(tmp_path: Path, database_url: str) -> AsyncIterator[LiveServer]:
    """The API on a real port, once on SQLite and once on PostgreSQL: for tests whose answer
    comes from the database (visibility, replays)."""
    app = create_application(settings=make_settings(tmp_path / "data", database_url))
    async with live_server(app) as server:
        yield server

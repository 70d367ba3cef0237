from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fastapi import FastAPI

from core_server.core.app import create_application
from tests.conftest import make_settings


@pytest.fixture
async def parts(tmp_path: Path, database_url: str) -> AsyncIterator[FastAPI]:
    """The server's parts (database, bot manager, event bus) without its background work: no
    supervisor or collector runs, so the engine under test is the only thing acting on bots."""
    app = create_application(settings=make_settings(tmp_path / "data", database_url))
    try:
        yield app
    finally:
        await app.state.bot_manager.close()
        await app.state.database.dispose()

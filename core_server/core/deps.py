"""Typed dependencies shared by every router."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Path, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession

from core_server.core.database import Database
from core_server.core.settings import Settings


def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request owns the transaction: commit when the route returns, roll back if it raises.
    Services only flush. The dependency is function-scoped so the commit happens before the
    response is sent, and a failed commit is an error the client sees."""
    async with get_database(request).transaction() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
DatabaseDep = Annotated[Database, Depends(get_database)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


# Ids are 32-bit in the database: a larger number is a 422 here, not an overflow there.
ResourceId = Annotated[int, Path(ge=1, le=2_147_483_647)]
PageLimit = Annotated[int, Query(ge=1, le=500, description="Page size (at most 500).")]
PageOffset = Annotated[int, Query(ge=0, le=10_000_000)]

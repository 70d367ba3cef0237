"""The two event queries the WebSocket needs beyond the activity service's own."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core_server.activity.models import Event
from core_server.activity.schemas import EventRead
from core_server.realtime.protocol import BROADCAST_TYPE


async def newest_event_id(session: AsyncSession) -> int | None:
    """The newest id of all: event ids are shared by every tenant, so this tells a user
    nothing the ids of their own events do not already tell."""
    newest: int | None = (await session.execute(select(func.max(Event.id)))).scalar_one()
    return newest


async def broadcasts_after(
    session: AsyncSession, after_id: int, up_to: int | None, limit: int
) -> list[EventRead]:
    """Broadcasts are addressed to everyone, so they are not scoped by owner."""
    stmt = select(Event).where(Event.type == BROADCAST_TYPE, Event.id > after_id)
    if up_to is not None:
        stmt = stmt.where(Event.id <= up_to)
    rows = await session.execute(stmt.order_by(Event.id).limit(limit))
    return [EventRead.model_validate(event) for event in rows.scalars()]

"""Recording events and reading the activity feed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core_server.activity.models import Event
from core_server.activity.schemas import EventPage, EventRead
from core_server.auth.principal import Principal
from core_server.core.database import after_commit
from core_server.realtime.bus import EventBus


async def record(
    session: AsyncSession,
    bus: EventBus,
    *,
    type: str,  # noqa: A002 - the event's field name
    summary: str,
    owner_id: int | None,
    bot_id: int | None = None,
    payload: dict[str, Any] | None = None,
) -> Event:
    """Store an event in the caller's transaction; it is published once that commits."""
    event = Event(
        type=type, summary=summary[:300], owner_id=owner_id, bot_id=bot_id, payload=payload or {}
    )
    session.add(event)
    await session.flush()
    read = EventRead.model_validate(event)
    after_commit(session, lambda: bus.publish_soon(read))
    return event


def visible_to(principal: Principal, event: EventRead) -> bool:
    return principal.is_admin or event.owner_id == principal.user_id


def _readable(principal: Principal) -> Select[Event]:
    stmt = select(Event)
    return stmt if principal.is_admin else stmt.where(Event.owner_id == principal.user_id)


async def list_events(
    session: AsyncSession,
    principal: Principal,
    *,
    types: list[str] | None,
    bot_id: int | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    offset: int,
) -> EventPage:
    stmt = _readable(principal)
    if types:
        stmt = stmt.where(Event.type.in_(types))
    if bot_id is not None:
        stmt = stmt.where(Event.bot_id == bot_id)
    if since is not None:
        stmt = stmt.where(Event.created_at >= since)
    if until is not None:
        stmt = stmt.where(Event.created_at < until)
    total = (await session.execute(select(func.count()).select_from(stmt.subquery()))).scalar_one()
    rows = await session.execute(stmt.order_by(Event.id.desc()).limit(limit).offset(offset))
    items = [EventRead.model_validate(e) for e in rows.scalars()]
    return EventPage(items=items, total=total, limit=limit, offset=offset)


async def events_after(
    session: AsyncSession, principal: Principal, after_id: int, limit: int = 1000
) -> list[EventRead]:
    """What a reconnecting client missed, oldest first."""
    stmt = _readable(principal).where(Event.id > after_id).order_by(Event.id).limit(limit)
    return [EventRead.model_validate(e) for e in (await session.execute(stmt)).scalars()]

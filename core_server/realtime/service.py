"""The rules of the live stream: who receives which event, replays, broadcasts, connections."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from core_server.activity import service as activity
from core_server.activity.schemas import EventRead
from core_server.audit import service as audit
from core_server.auth.authenticate import authenticate
from core_server.auth.principal import Principal
from core_server.core.database import Database
from core_server.core.errors import Unauthorized
from core_server.core.security import Keys
from core_server.realtime import repository
from core_server.realtime.bus import EventBus
from core_server.realtime.protocol import BROADCAST_TYPE
from core_server.realtime.registry import ConnectionRegistry
from core_server.realtime.schemas import BroadcastCreate, ConnectionPage


async def authenticate_token(database: Database, keys: Keys, token: str | None) -> Principal:
    if not token:
        raise Unauthorized(
            "Authentication is required: pass ?token=, an 'Authorization: Bearer' header "
            "or the subprotocol 'bearer.<token>'."
        )
    # Its own short transaction: an API key's last-use time is written, and nothing is held
    # open for the life of the connection.
    async with database.transaction() as session:
        return await authenticate(session, keys, token)


def can_receive(principal: Principal, event: EventRead) -> bool:
    """Broadcasts are for everyone; every other event for its owner and the admins."""
    return event.type == BROADCAST_TYPE or activity.visible_to(principal, event)


async def newest_event_id(database: Database) -> int | None:
    async with database.transaction() as session:
        return await repository.newest_event_id(session)


@dataclass(frozen=True)
class Missed:
    events: list[EventRead]
    # Where this page ends: resume after it when `more`.
    last_event_id: int
    more: bool


async def missed_events(
    database: Database, principal: Principal, after_id: int, limit: int
) -> Missed:
    """The events after `after_id` the principal may receive, oldest first, at most `limit`."""
    async with database.transaction() as session:
        own = await activity.events_after(session, principal, after_id, limit)
        more = len(own) == limit
        up_to = own[-1].id if more else None
        broadcasts = (
            []
            if principal.is_admin  # the admins' feed holds them already
            else await repository.broadcasts_after(session, after_id, up_to, limit)
        )
    more = more or len(broadcasts) == limit
    events = sorted({e.id: e for e in [*own, *broadcasts]}.values(), key=lambda e: e.id)
    if len(events) > limit:
        events, more = events[:limit], True
    return Missed(events, events[-1].id if events else after_id, more)


async def broadcast(
    session: AsyncSession, bus: EventBus, principal: Principal, body: BroadcastCreate
) -> EventRead:
    """Record an announcement for every connected user; it is sent once the request commits."""
    event = await activity.record(
        session,
        bus,
        type=BROADCAST_TYPE,
        summary=f"Broadcast ({body.severity}): {body.message}",
        owner_id=None,
        payload={"message": body.message, "severity": body.severity, "sender": principal.username},
    )
    audit.record(
        session,
        "broadcast.send",
        actor=principal,
        resource_type="event",
        resource_id=event.id,
        details={"severity": body.severity, "length": len(body.message)},
    )
    return EventRead.model_validate(event)


async def list_connections(
    registry: ConnectionRegistry, principal: Principal, *, limit: int, offset: int
) -> ConnectionPage:
    return await registry.page(principal, limit=limit, offset=offset)

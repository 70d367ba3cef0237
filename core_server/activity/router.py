from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from core_server.activity import service
from core_server.activity.schemas import EventPage
from core_server.auth.dependencies import CurrentPrincipal
from core_server.core.deps import PageLimit, PageOffset, SessionDep
from core_server.core.envelope import Envelope, ok
from core_server.core.errors import Unauthorized, error_responses

router = APIRouter(prefix="/activity", tags=["monitoring"])

EventType = Annotated[str, Query(pattern=r"^[a-z_]+(\.[a-z_]+)?$", max_length=40)]


@router.get("", response_model=Envelope[EventPage], responses=error_responses(Unauthorized))
async def list_activity(
    principal: CurrentPrincipal,
    session: SessionDep,
    type: Annotated[  # noqa: A002 - the API's parameter name
        list[EventType] | None,
        Query(description="trade.entry, trade.exit, bot.status, alert, strategy.change ..."),
    ] = None,
    bot_id: Annotated[int | None, Query(ge=1, le=2_147_483_647)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: PageLimit = 50,
    offset: PageOffset = 0,
) -> Envelope[EventPage]:
    """The activity feed, newest first: trades, bot state changes, alerts, strategy changes."""
    return ok(
        await service.list_events(
            session,
            principal,
            types=type,
            bot_id=bot_id,
            since=since,
            until=until,
            limit=limit,
            offset=offset,
        )
    )

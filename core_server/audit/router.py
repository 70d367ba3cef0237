from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from core_server.audit import service
from core_server.audit.repository import AuditFilter
from core_server.audit.schemas import AuditEntryRead
from core_server.audit.service import AuditEntryNotFound
from core_server.auth.dependencies import CurrentPrincipal
from core_server.core.deps import PageLimit, PageOffset, ResourceId, SessionDep
from core_server.core.envelope import Envelope, Page, ok
from core_server.core.errors import Unauthorized, error_responses

router = APIRouter(prefix="/audit", tags=["monitoring"])

ShortText = Annotated[str | None, Query(max_length=64)]


@router.get(
    "", response_model=Envelope[Page[AuditEntryRead]], responses=error_responses(Unauthorized)
)
async def list_audit_entries(
    principal: CurrentPrincipal,
    session: SessionDep,
    action: ShortText = None,
    outcome: Annotated[str | None, Query(pattern="^(success|failure|denied)$")] = None,
    resource_type: ShortText = None,
    resource_id: ShortText = None,
    actor_id: Annotated[int | None, Query(ge=1, le=2_147_483_647)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: PageLimit = 50,
    offset: PageOffset = 0,
) -> Envelope[Page[AuditEntryRead]]:
    """The audit log, newest first: all of it for admins, your own actions otherwise."""
    where = AuditFilter(
        action=action,
        outcome=outcome,
        resource_type=resource_type,
        resource_id=resource_id,
        actor_id=actor_id,
        since=since,
        until=until,
    )
    return ok(await service.list_entries(session, principal, where, limit=limit, offset=offset))


@router.get(
    "/{entry_id}",
    response_model=Envelope[AuditEntryRead],
    responses=error_responses(Unauthorized, AuditEntryNotFound),
)
async def get_audit_entry(
    entry_id: ResourceId, principal: CurrentPrincipal, session: SessionDep
) -> Envelope[AuditEntryRead]:
    """One audit entry."""
    return ok(await service.get_entry(session, principal, entry_id))

"""Writing and reading the audit log. Every state-changing service call records one row."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core_server.audit.models import AuditEntry
from core_server.audit.repository import AuditFilter, AuditRepository
from core_server.audit.schemas import AuditEntryRead
from core_server.auth.principal import Principal
from core_server.core.database import on_rollback
from core_server.core.envelope import Page
from core_server.core.errors import NotFound
from core_server.core.request_context import current_client_address, current_request_id

SUCCESS = "success"
FAILURE = "failure"
DENIED = "denied"


class AuditEntryNotFound(NotFound):
    code = "AUDIT_ENTRY_NOT_FOUND"
    default_message = "No such audit entry."


def _entry(
    action: str,
    *,
    actor_id: int | None,
    actor_name: str | None,
    outcome: str,
    resource_type: str | None,
    resource_id: object | None,
    details: dict[str, Any] | None,
) -> AuditEntry:
    return AuditEntry(
        actor_id=actor_id,
        actor_name=actor_name,
        action=action,
        resource_type=resource_type,
        resource_id=None if resource_id is None else str(resource_id),
        outcome=outcome,
        client_address=current_client_address(),
        request_id=current_request_id(),
        details=details or {},
    )


def record(
    session: AsyncSession,
    action: str,
    *,
    actor: Principal | None = None,
    actor_id: int | None = None,
    actor_name: str | None = None,
    outcome: str = SUCCESS,
    resource_type: str | None = None,
    resource_id: object | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Record an action inside the caller's transaction: it is kept only if the action is."""
    session.add(
        _entry(
            action,
            actor_id=actor.user_id if actor else actor_id,
            actor_name=actor.username if actor else actor_name,
            outcome=outcome,
            resource_type=resource_type,
            resource_id=resource_id,
            details=details,
        )
    )


def record_failure(
    session: AsyncSession,
    action: str,
    *,
    actor_id: int | None = None,
    actor_name: str | None = None,
    outcome: str = FAILURE,
    resource_type: str | None = None,
    resource_id: object | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Record a refused or failed action so that it survives the rollback of the request that
    failed (a wrong password must leave a trace)."""
    entry = _entry(
        action,
        actor_id=actor_id,
        actor_name=actor_name,
        outcome=outcome,
        resource_type=resource_type,
        resource_id=resource_id,
        details=details,
    )

    async def write(fresh: AsyncSession) -> None:
        fresh.add(entry)

    on_rollback(session, write)


async def list_entries(
    session: AsyncSession, principal: Principal, where: AuditFilter, *, limit: int, offset: int
) -> Page[AuditEntryRead]:
    rows, total = await AuditRepository(session).page(principal, where, limit=limit, offset=offset)
    return Page[AuditEntryRead](
        items=[AuditEntryRead.model_validate(row) for row in rows],
        total=total,
        limit=limit,
        offset=offset,
    )


async def get_entry(session: AsyncSession, principal: Principal, entry_id: int) -> AuditEntryRead:
    entry = await AuditRepository(session).get(principal, entry_id)
    if entry is None:
        raise AuditEntryNotFound()
    return AuditEntryRead.model_validate(entry)

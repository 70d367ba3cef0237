from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core_server.audit.models import AuditEntry
from core_server.auth.principal import Principal


@dataclass(frozen=True)
class AuditFilter:
    action: str | None = None
    outcome: str | None = None
    resource_type: str | None = None
    resource_id: str | None = None
    actor_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None


class AuditRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def readable(self, principal: Principal) -> Select[AuditEntry]:
        stmt = select(AuditEntry)
        return stmt if principal.is_admin else stmt.where(AuditEntry.actor_id == principal.user_id)

    def add(self, entry: AuditEntry) -> None:
        self.session.add(entry)

    async def get(self, principal: Principal, entry_id: int) -> AuditEntry | None:
        stmt = self.readable(principal).where(AuditEntry.id == entry_id)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def page(
        self, principal: Principal, where: AuditFilter, *, limit: int, offset: int
    ) -> tuple[Sequence[AuditEntry], int]:
        stmt = self.readable(principal)
        if where.action:
            stmt = stmt.where(AuditEntry.action == where.action)
        if where.outcome:
            stmt = stmt.where(AuditEntry.outcome == where.outcome)
        if where.resource_type:
            stmt = stmt.where(AuditEntry.resource_type == where.resource_type)
        if where.resource_id:
            stmt = stmt.where(AuditEntry.resource_id == where.resource_id)
        if where.actor_id is not None:
            stmt = stmt.where(AuditEntry.actor_id == where.actor_id)
        if where.since:
            stmt = stmt.where(AuditEntry.created_at >= where.since)
        if where.until:
            stmt = stmt.where(AuditEntry.created_at < where.until)
        total = await self.session.execute(select(func.count()).select_from(stmt.subquery()))
        rows = await self.session.execute(
            stmt.order_by(AuditEntry.id.desc()).limit(limit).offset(offset)
        )
        return rows.scalars().all(), total.scalar_one()

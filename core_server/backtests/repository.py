from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Select, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core_server.auth.principal import Principal
from core_server.backtests.models import Job, JobResult


class JobRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def readable(self, principal: Principal) -> Select[Job]:
        stmt = select(Job)
        return stmt if principal.is_admin else stmt.where(Job.owner_id == principal.user_id)

    async def get(
        self, principal: Principal, job_id: int, *, for_update: bool = False
    ) -> Job | None:
        stmt = self.readable(principal).where(Job.id == job_id)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def page(
        self,
        principal: Principal,
        *,
        kind: str | None,
        state: str | None,
        limit: int,
        offset: int,
    ) -> tuple[Sequence[Job], int]:
        stmt = self.readable(principal)
        if kind:
            stmt = stmt.where(Job.kind == kind)
        if state:
            stmt = stmt.where(Job.state == state)
        total = await self.session.execute(select(func.count()).select_from(stmt.subquery()))
        rows = await self.session.execute(stmt.order_by(Job.id.desc()).limit(limit).offset(offset))
        return rows.scalars().all(), total.scalar_one()

    async def result(self, job_id: int) -> JobResult | None:
        return await self.session.get(JobResult, job_id)

    def add(self, job: Job) -> None:
        self.session.add(job)

    async def delete(self, job_id: int) -> bool:
        await self.session.execute(delete(JobResult).where(JobResult.job_id == job_id))
        result = await self.session.execute(delete(Job).where(Job.id == job_id))
        return bool(getattr(result, "rowcount", 0) == 1)

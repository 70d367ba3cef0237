from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete

from core_server.auth.principal import Principal
from core_server.backtests.models import Job, JobResult
from core_server.core.repository import OwnedRepository


class JobRepository(OwnedRepository[Job]):
    model = Job

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
        return await self.paged(stmt, limit=limit, offset=offset, newest_first=True)

    async def result(self, job_id: int) -> JobResult | None:
        return await self.session.get(JobResult, job_id)

    def add(self, job: Job) -> None:
        self.session.add(job)

    async def delete(self, job_id: int) -> bool:
        await self.session.execute(delete(JobResult).where(JobResult.job_id == job_id))
        result = await self.session.execute(delete(Job).where(Job.id == job_id))
        return bool(getattr(result, "rowcount", 0) == 1)

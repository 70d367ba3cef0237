"""The rules for jobs and market data: who sees and steers which job, how jobs are submitted,
cancelled and deleted. Every face (REST, later MCP and chat) uses these."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core_server.audit import service as audit
from core_server.auth.principal import Principal
from core_server.backtests import market_data
from core_server.backtests.errors import (
    FreqtradeNotInstalled,
    JobNotActive,
    JobNotFound,
    NotSavable,
)
from core_server.backtests.models import ACTIVE_STATES, Job, JobKind, JobState
from core_server.backtests.repository import JobRepository
from core_server.backtests.runtime import JobSystem
from core_server.backtests.schemas import (
    BacktestRun,
    DownloadRequest,
    HyperoptRun,
    JobDeleted,
    JobDetail,
    JobPage,
    JobRead,
    JobResults,
    MarketDataList,
    SaveParameters,
)
from core_server.backtests.strategy_source import pinned_strategy
from core_server.backtests.tasks import remove_job_files
from core_server.core.database import Database, utcnow


async def list_market_data(system: JobSystem, exchange: str | None) -> MarketDataList:
    files = await asyncio.to_thread(market_data.list_files, system.settings, exchange)
    return MarketDataList(items=files, total=len(files))


def _new_job(principal: Principal, system: JobSystem, kind: JobKind, params: dict[str, Any]) -> Job:
    return Job(
        owner_id=principal.user_id,
        kind=kind,
        state=JobState.queued,
        progress=0.0,
        stage="queued",
        params=params,
        attempts=0,
        max_attempts=system.settings.job_max_attempts,
        queued_at=utcnow(),
    )


async def _submit(
    session: AsyncSession, principal: Principal, system: JobSystem, job: Job
) -> JobRead:
    JobRepository(session).add(job)
    await session.flush()
    audit.record(
        session,
        f"job.{job.kind}",
        actor=principal,
        resource_type="job",
        resource_id=job.id,
        details={"strategy": job.strategy_name, "params": job.params},
    )
    system.send_after_commit(session, job.id)
    return JobRead.model_validate(job)


async def submit_download(
    session: AsyncSession, principal: Principal, system: JobSystem, body: DownloadRequest
) -> JobRead:
    job = _new_job(principal, system, JobKind.download, body.model_dump(mode="json"))
    return await _submit(session, principal, system, job)


async def submit_backtest(
    session: AsyncSession,
    principal: Principal,
    system: JobSystem,
    body: BacktestRun,
    kind: JobKind = JobKind.backtest,
) -> JobRead:
    if system.executable is None:
        raise FreqtradeNotInstalled()
    snapshot = await pinned_strategy(
        session,
        principal.user_id,
        body.strategy,
        body.strategy_version,
        executable=system.executable,
        data_dir=system.settings.data_dir,
        templates_lock=system.templates_lock,
    )
    job = _new_job(principal, system, kind, body.model_dump(mode="json"))
    job.strategy_name = snapshot.name
    job.strategy_class = snapshot.class_name
    job.strategy_version = snapshot.version
    job.strategy_version_id = snapshot.version_id
    job.strategy_code = snapshot.code
    job.strategy_parameters = snapshot.parameters
    return await _submit(session, principal, system, job)


async def submit_hyperopt(
    session: AsyncSession, principal: Principal, system: JobSystem, body: HyperoptRun
) -> JobRead:
    return await submit_backtest(session, principal, system, body, JobKind.hyperopt)


async def list_jobs(
    session: AsyncSession,
    principal: Principal,
    *,
    kind: JobKind | None,
    state: JobState | None,
    limit: int,
    offset: int,
) -> JobPage:
    rows, total = await JobRepository(session).page(
        principal, kind=kind, state=state, limit=limit, offset=offset
    )
    return JobPage(
        items=[JobRead.model_validate(job) for job in rows], total=total, limit=limit, offset=offset
    )


async def get_job(session: AsyncSession, principal: Principal, job_id: int) -> JobDetail:
    repo = JobRepository(session)
    job = await repo.get(principal, job_id)
    if job is None:
        raise JobNotFound()
    detail = JobDetail.model_validate(job)
    detail.strategy_code = job.strategy_code
    if job.state == JobState.completed:
        result = await repo.result(job.id)
        detail.results = JobResults.model_validate(result) if result is not None else None
    return detail


async def save_best_parameters(
    session: AsyncSession,
    principal: Principal,
    library: Any,
    job_id: int,
    body: SaveParameters,
) -> Any:
    """Store a finished hyperopt job's best parameters as a new version of the library strategy
    it ran (the strategy library's own `save_parameters`, which keeps the code)."""
    from core_server.strategies import service as strategies

    repo = JobRepository(session)
    job = await repo.get(principal, job_id)
    if job is None:
        raise JobNotFound()
    if job.kind != JobKind.hyperopt or job.state != JobState.completed:
        raise NotSavable(f"Job {job_id} is not a completed hyperopt job.")
    result = await repo.result(job.id)
    parameters = (result.parameter_file or {}).get("params") if result is not None else None
    if not parameters:
        raise NotSavable(f"freqtrade wrote no parameter file for job {job_id}.")
    if job.strategy_version_id is None:
        raise NotSavable(
            f"Job {job_id} ran {job.strategy_name} from freqtrade's templates, not from the "
            "library: copy it into the library first."
        )
    snapshot = await strategies.snapshot_of_version(session, job.strategy_version_id)
    if snapshot is None:
        raise NotSavable(f"The strategy job {job_id} ran is no longer in the library.")
    message = body.message or f"best parameters of hyperopt job {job_id}"
    return await strategies.save_parameters(
        session, principal, library, snapshot.strategy_id, parameters, message
    )


async def _mark_cancelled(
    database: Database, principal: Principal, job_id: int
) -> tuple[JobState, bool]:
    """Cancel an active job in the database (its worker notices at its next heartbeat and ends
    freqtrade). Returns the state it had and whether a worker held it."""
    async with database.transaction() as session:
        job = await JobRepository(session).get(principal, job_id, for_update=True)
        if job is None:
            raise JobNotFound()
        state = JobState(job.state)
        held = job.state == JobState.running and job.heartbeat_at is not None
        if state in ACTIVE_STATES:
            await session.execute(
                update(Job)
                .where(Job.id == job_id, Job.state.in_(list(ACTIVE_STATES)))
                .values(
                    state=JobState.cancelled,
                    error=f"cancelled by {principal.username}",
                    stage="cancelled",
                    finished_at=utcnow(),
                    updated_at=utcnow(),
                )
            )
            audit.record(
                session, "job.cancel", actor=principal, resource_type="job", resource_id=job_id
            )
        return state, held


async def _wait_released(database: Database, job_id: int, seconds: float) -> bool:
    """Wait until no worker holds the job (its freqtrade has ended), or the time is up."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        async with database.transaction() as session:
            row = (await session.execute(select(Job.heartbeat_at).where(Job.id == job_id))).first()
        if row is None or row[0] is None:
            return True
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(0.2)


async def cancel_job(
    database: Database, principal: Principal, system: JobSystem, job_id: int
) -> JobRead:
    """Cancel a queued or running job; a running one's freqtrade process group is ended."""
    state, held = await _mark_cancelled(database, principal, job_id)
    if state not in ACTIVE_STATES:
        raise JobNotActive(f"Job {job_id} is already {state.value}; there is nothing to cancel.")
    if held:
        await _wait_released(database, job_id, system.settings.job_cancel_wait_seconds)
    async with database.transaction() as session:
        job = await JobRepository(session).get(principal, job_id)
        if job is None:
            raise JobNotFound()
        return JobRead.model_validate(job)


async def delete_job(
    database: Database, principal: Principal, system: JobSystem, job_id: int
) -> JobDeleted:
    """Delete a job and its results; a running job is cancelled first (its freqtrade process
    group ended) and its files removed."""
    state, held = await _mark_cancelled(database, principal, job_id)
    ended: bool | None = None
    if held:
        ended = await _wait_released(database, job_id, system.settings.job_cancel_wait_seconds)
    async with database.transaction() as session:
        # A second DELETE that raced this one may have removed it already: this one's cancel
        # still happened, so it still answers for it.
        await JobRepository(session).delete(job_id)
        audit.record(
            session, "job.delete", actor=principal, resource_type="job", resource_id=job_id
        )
    await asyncio.to_thread(remove_job_files, system.settings, job_id)
    return JobDeleted(id=job_id, state=state, process_ended=ended)

"""HTTP routes for market data and jobs: the seed's /backtest endpoints and more."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from core_server.auth.dependencies import CurrentPrincipal, Trader
from core_server.auth.errors import InsufficientRole
from core_server.backtests import service
from core_server.backtests.errors import (
    FreqtradeNotInstalled,
    JobNotActive,
    JobNotFound,
    NotSavable,
    UnknownStrategy,
)
from core_server.backtests.models import JobKind, JobState
from core_server.backtests.runtime import JobSystem
from core_server.backtests.schemas import (
    BacktestRun,
    DownloadRequest,
    HyperoptRun,
    JobDeleted,
    JobDetail,
    JobPage,
    JobRead,
    MarketDataList,
    SaveParameters,
)
from core_server.core.deps import DatabaseDep, PageLimit, PageOffset, ResourceId, SessionDep
from core_server.core.envelope import Envelope, ok
from core_server.core.errors import InvalidInput, Unauthorized, error_responses


def get_jobs(request: Request) -> JobSystem:
    system: JobSystem = request.app.state.jobs
    return system


Jobs = Annotated[JobSystem, Depends(get_jobs)]

router = APIRouter(prefix="/backtest", tags=["backtest"])

SUBMIT_ERRORS = error_responses(
    Unauthorized, InsufficientRole, UnknownStrategy, InvalidInput, FreqtradeNotInstalled
)


@router.get(
    "/data", response_model=Envelope[MarketDataList], responses=error_responses(Unauthorized)
)
async def list_market_data(
    principal: CurrentPrincipal,
    jobs: Jobs,
    exchange: Annotated[str | None, Query(max_length=50, pattern=r"^[a-z0-9_]+$")] = None,
) -> Envelope[MarketDataList]:
    """Candles in the shared market data: pair, timeframe, first and last candle."""
    return ok(await service.list_market_data(jobs, exchange))


@router.post(
    "/data/download",
    status_code=202,
    response_model=Envelope[JobRead],
    responses=error_responses(Unauthorized, InsufficientRole, InvalidInput),
)
async def download_market_data(
    body: DownloadRequest, principal: Trader, session: SessionDep, jobs: Jobs
) -> Envelope[JobRead]:
    """Start a job that downloads candles (`freqtrade download-data`) into the market data."""
    return ok(await service.submit_download(session, principal, jobs, body), "Download queued.")


@router.post("/run", status_code=202, response_model=Envelope[JobRead], responses=SUBMIT_ERRORS)
async def run_backtest(
    body: BacktestRun, principal: Trader, session: SessionDep, jobs: Jobs
) -> Envelope[JobRead]:
    """Start a backtest job; on the simulator, missing candles are downloaded first."""
    return ok(await service.submit_backtest(session, principal, jobs, body), "Backtest queued.")


@router.post(
    "/hyperopt", status_code=202, response_model=Envelope[JobRead], responses=SUBMIT_ERRORS
)
async def run_hyperopt(
    body: HyperoptRun, principal: Trader, session: SessionDep, jobs: Jobs
) -> Envelope[JobRead]:
    """Start a hyperopt job (epochs, spaces, loss); its result is the best parameters."""
    return ok(await service.submit_hyperopt(session, principal, jobs, body), "Hyperopt queued.")


@router.get("/jobs", response_model=Envelope[JobPage], responses=error_responses(Unauthorized))
async def list_jobs(
    principal: CurrentPrincipal,
    session: SessionDep,
    kind: JobKind | None = None,
    state: JobState | None = None,
    limit: PageLimit = 50,
    offset: PageOffset = 0,
) -> Envelope[JobPage]:
    """Your jobs (every job for admins), newest first."""
    return ok(
        await service.list_jobs(
            session, principal, kind=kind, state=state, limit=limit, offset=offset
        )
    )


@router.get(
    "/jobs/{job_id}",
    response_model=Envelope[JobDetail],
    responses=error_responses(Unauthorized, JobNotFound),
)
async def get_job(
    job_id: ResourceId, principal: CurrentPrincipal, session: SessionDep
) -> Envelope[JobDetail]:
    """A job's state and progress, and for a finished one its results."""
    return ok(await service.get_job(session, principal, job_id))


@router.post(
    "/jobs/{job_id}/cancel",
    response_model=Envelope[JobRead],
    responses=error_responses(Unauthorized, InsufficientRole, JobNotFound, JobNotActive),
)
async def cancel_job(
    job_id: ResourceId, principal: Trader, database: DatabaseDep, jobs: Jobs
) -> Envelope[JobRead]:
    """Cancel a queued or running job (its freqtrade process group is ended); it stays listed."""
    return ok(await service.cancel_job(database, principal, jobs, job_id), "Job cancelled.")


@router.post(
    "/jobs/{job_id}/save-parameters",
    response_model=Envelope[dict[str, Any]],
    responses=error_responses(Unauthorized, InsufficientRole, JobNotFound, NotSavable),
)
async def save_parameters(
    job_id: ResourceId,
    body: SaveParameters,
    principal: Trader,
    session: SessionDep,
    request: Request,
) -> Envelope[dict[str, Any]]:
    """Save a hyperopt job's best parameters as a new version of its library strategy."""
    from core_server.strategies.router import get_library

    strategy = await service.save_best_parameters(
        session, principal, get_library(request), job_id, body
    )
    return ok(strategy.model_dump(mode="json"), "Parameters saved as a new strategy version.")


@router.delete(
    "/jobs/{job_id}",
    response_model=Envelope[JobDeleted],
    responses=error_responses(Unauthorized, InsufficientRole, JobNotFound),
)
async def delete_job(
    job_id: ResourceId, principal: Trader, database: DatabaseDep, jobs: Jobs
) -> Envelope[JobDeleted]:
    """Delete a job and its results; a running job is cancelled first."""
    deleted = await service.delete_job(database, principal, jobs, job_id)
    note = "Job cancelled and deleted." if deleted.state in ("queued", "running") else "Deleted."
    return ok(deleted, note)

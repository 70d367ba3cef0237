from __future__ import annotations

from fastapi import APIRouter, Request

from core_server import __version__
from core_server.core.deps import DatabaseDep, SettingsDep
from core_server.core.envelope import Envelope, ok
from core_server.monitoring import service
from core_server.monitoring.schemas import Liveness, SystemHealth

router = APIRouter(prefix="/monitoring", tags=["monitoring"])
liveness_router = APIRouter(tags=["monitoring"])


@liveness_router.get("/health", response_model=Envelope[Liveness])
async def liveness() -> Envelope[Liveness]:
    """Liveness: answers while the process serves requests (no auth, not rate limited)."""
    return ok(Liveness(version=__version__))


@router.get("/health", response_model=Envelope[SystemHealth])
async def system_health(
    request: Request, settings: SettingsDep, database: DatabaseDep
) -> Envelope[SystemHealth]:
    """Health of every component (database, Redis when configured) with its latency."""
    state = request.app.state
    health = await service.system_health(settings, database, state.redis, state.started_at)
    return ok(health, f"System is {health.status}.")

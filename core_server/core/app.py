"""The application factory (the seed's `create_application(profile)`)."""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from redis.asyncio import BlockingConnectionPool, Redis

from core_server import __version__
from core_server.activity.router import router as activity_router
from core_server.analytics.router import router as analytics_router
from core_server.audit.router import router as audit_router
from core_server.auth.authenticate import RateLimitIdentity
from core_server.auth.router import router as auth_router
from core_server.auth.router import users_router
from core_server.backtests.router import router as backtests_router
from core_server.backtests.runtime import JobSystem
from core_server.bots.demo import ensure_demo_fleet
from core_server.bots.exchanges import exchange_block
from core_server.bots.manager import BotManager
from core_server.bots.router import router as bots_router
from core_server.bots.runtime import LocalProcessRuntime
from core_server.collector.cache import LiveStateCache
from core_server.collector.router import router as fleet_router
from core_server.collector.service import Collector
from core_server.core.database import Database, init_database
from core_server.core.errors import install_error_handlers
from core_server.core.middleware import BodySizeLimitMiddleware, RequestContextMiddleware
from core_server.core.net_guard import OutboundPolicy
from core_server.core.ratelimit import RateLimitMiddleware, make_storage
from core_server.core.security import Keys
from core_server.core.settings import Profile, Settings, get_settings
from core_server.freqtrade.commands import FreqtradeMissing, freqtrade_executable
from core_server.monitoring.router import liveness_router
from core_server.monitoring.router import router as monitoring_router
from core_server.realtime.bus import EventBus, RedisEventBus
from core_server.realtime.router import router as realtime_router
from core_server.risk.engine import RiskEngine
from core_server.risk.router import router as risk_router
from core_server.simulator.config import SimulatorConfig
from core_server.simulator.server import SimulatorServer
from core_server.strategies.router import router as strategies_router
from core_server.webui.router import mount_webui

logger = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
OPENAPI_TAGS = [
    {"name": "auth", "description": "Authentication endpoints"},
    {"name": "bots", "description": "Bot management"},
    {"name": "strategies", "description": "Strategy management"},
    {"name": "backtest", "description": "Backtesting operations"},
    {"name": "analytics", "description": "Analytics and reporting"},
    {"name": "monitoring", "description": "System monitoring"},
    {"name": "websocket", "description": "WebSocket connections"},
]

# Which routers each profile serves. `minimal` is accounts and health only; the trading
# subsystems join `standard`, and the AI bridge and chat integrations `full_featured`.
PROFILE_ROUTERS: dict[Profile, tuple[APIRouter, ...]] = {
    Profile.minimal: (auth_router, users_router, audit_router, monitoring_router),
}
PROFILE_ROUTERS[Profile.standard] = (
    *PROFILE_ROUTERS[Profile.minimal],
    bots_router,
    activity_router,
    analytics_router,
    realtime_router,
    risk_router,
    backtests_router,
    strategies_router,
    fleet_router,
)
PROFILE_ROUTERS[Profile.full_featured] = PROFILE_ROUTERS[Profile.standard]
TRADING_PROFILES = frozenset({Profile.standard, Profile.full_featured})


def _bot_manager(
    settings: Settings, database: Database, keys: Keys, policy: OutboundPolicy, bus: EventBus
) -> BotManager:
    try:
        executable: Path | None = freqtrade_executable(settings)
    except FreqtradeMissing as exc:
        logger.warning("%s; bots cannot be started until it is", exc)
        executable = None
    runtime = LocalProcessRuntime(executable or Path("freqtrade"))
    simulator_url = settings.resolved_simulator_url
    return BotManager(
        settings,
        database,
        keys,
        runtime,
        executable,
        lambda exchange: exchange_block(exchange, simulator_url),
        policy,
        bus,
    )


async def _start_simulator(settings: Settings) -> SimulatorServer | None:
    """The embedded market simulator, unless SIMULATOR_URL names one elsewhere. When its port is
    taken (a second server process on this machine), the one already there serves."""
    if not settings.simulator_enabled or settings.simulator_url:
        return None
    extra = {"pairs": tuple(settings.simulator_pairs)} if settings.simulator_pairs else {}
    config = SimulatorConfig(
        seed=settings.simulator_seed,
        host=settings.simulator_host,
        port=settings.simulator_port,
        replay_dir=settings.simulator_replay_dir,
        **extra,
    )
    simulator = SimulatorServer(config)
    try:
        await simulator.start()
    except OSError as exc:
        logger.warning("simulator port %s is taken (%s); using the one there", config.port, exc)
        return None
    logger.info("market simulator listening on %s", simulator.base_url)
    return simulator


def _freeze_startup_heap() -> None:
    """Keep what start-up built (modules, the ORM's mappers, pydantic's schemas: most of the
    heap) out of every later full collection, and collect the young generation less often. At
    100 bots this cut the full collections' pauses, which set the API's p99, from about 190 ms
    to about 70 ms (benchmarks/RESULTS.md)."""
    gc.collect()
    gc.freeze()
    gen0, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(max(gen0, 10_000), gen1, gen2)


def create_application(
    profile: Profile | str | None = None, settings: Settings | None = None
) -> FastAPI:
    settings = settings or get_settings()
    if profile is not None:
        settings = settings.model_copy(update={"profile": Profile(profile)})
    settings.check_secrets()

    database = Database.from_settings(settings)
    keys = Keys(jwt_secret=settings.secret("JWT_SECRET"), secret_key=settings.secret("SECRET_KEY"))
    # A blocking pool waits for a free connection under a burst, where the default pool fails
    # at once (measured: 900 of 1,000 concurrent publishes refused).
    redis = (
        Redis(
            connection_pool=BlockingConnectionPool.from_url(
                settings.redis_url, max_connections=200, timeout=10
            )
        )
        if settings.redis_url
        else None
    )
    policy = OutboundPolicy(settings.outbound_allowlist)
    trading = settings.profile in TRADING_PROFILES
    bus: EventBus = RedisEventBus(redis, settings.redis_prefix) if redis else EventBus()
    cache = LiveStateCache(redis, settings.redis_prefix)
    manager = _bot_manager(settings, database, keys, policy, bus) if trading else None
    collector = (
        Collector(
            database,
            manager,
            bus,
            cache,
            interval=settings.collector_interval_seconds,
            concurrency=settings.collector_concurrency,
            sync_timeout=settings.collector_sync_timeout_seconds,
        )
        if manager is not None
        else None
    )

    # Backtests, hyperopt and downloads: a local worker pool without Redis, else a reaper only.
    jobs = JobSystem(settings, database) if trading else None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.auto_migrate:
            await init_database(settings)
        app.state.started_at = time.monotonic()
        simulator = await _start_simulator(settings) if trading else None
        await bus.start()
        if manager is not None:
            manager.start_supervisor()
            if settings.demo_fleet:
                await ensure_demo_fleet(database, manager)
        if collector is not None:
            collector.start()
        if jobs is not None:
            await jobs.start()
        if getattr(app.state, "freeze_gc_after_startup", False):
            _freeze_startup_heap()
        try:
            yield
        finally:
            if jobs is not None:
                await jobs.close()
            if collector is not None:
                await collector.close()
            if getattr(app.state, "risk_engine", None) is not None:
                # Alerts still being recorded finish before the database closes.
                await app.state.risk_engine.close()
            if manager is not None:
                await manager.close()
            await bus.close()
            if simulator is not None:
                await simulator.stop()
            if redis is not None:
                await redis.aclose()
            await database.dispose()

    app = FastAPI(
        title="Freqtrade Multi-Bot System API",
        description="Enterprise-grade multi-bot trading platform",
        version=__version__,
        docs_url="/docs",
        redoc_url="/redoc",
        openapi_url="/openapi.json",
        openapi_tags=OPENAPI_TAGS,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.database = database
    app.state.keys = keys
    app.state.redis = redis
    app.state.outbound_policy = policy
    app.state.bot_manager = manager
    app.state.bus = bus
    app.state.live_state = cache
    app.state.collector = collector
    app.state.jobs = jobs
    if manager is not None and collector is not None:
        manager.on_trade_forced = collector.poke
        risk_engine = RiskEngine(database, manager, bus, cache)
        collector.after_sync_hooks.append(risk_engine.after_sync)
        manager.on_running = risk_engine.bot_running
        app.state.risk_engine = risk_engine
    app.state.started_at = time.monotonic()

    install_error_handlers(app)
    app.include_router(liveness_router)
    for router in PROFILE_ROUTERS[settings.profile]:
        app.include_router(router, prefix=API_PREFIX)
    mount_webui(app)  # last: its fallback answers only what no API route does

    # Added innermost first: the request id wraps everything, so even a 429 or 413 carries it.
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    if settings.rate_limit_enabled:
        app.add_middleware(
            RateLimitMiddleware,
            storage=make_storage(settings.redis_url, settings.redis_prefix),
            identify=RateLimitIdentity(database, keys),
            authenticated_per_minute=settings.rate_limit_authenticated,
            anonymous_per_minute=settings.rate_limit_anonymous,
        )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=[
                "X-Request-ID",
                "X-RateLimit-Limit",
                "X-RateLimit-Remaining",
                "X-RateLimit-Reset",
                "Retry-After",
            ],
        )
    app.add_middleware(RequestContextMiddleware)
    return app

"""HTTP routes for bots: the seed's list and more."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from core_server.auth.dependencies import CurrentPrincipal, Trader
from core_server.auth.errors import InsufficientRole
from core_server.bots import service
from core_server.bots.errors import (
    BotBusy,
    BotNameTaken,
    BotNotFound,
    BotNotRunning,
    BotRequestFailed,
    BotUnreachable,
    InvalidBotConfig,
    NotManaged,
    UnknownStrategy,
)
from core_server.bots.manager import BotManager
from core_server.bots.models import BotStatus
from core_server.bots.schemas import (
    BotConfigRead,
    BotCreate,
    BotPage,
    BotRead,
    BotStateChange,
    BotUpdate,
    ConfigUpdate,
    ExternalBotCreate,
    ForceEnter,
    ForceExit,
)
from core_server.core.deps import PageLimit, PageOffset, ResourceId, SessionDep
from core_server.core.envelope import Envelope, ok
from core_server.core.errors import Unauthorized, error_responses
from core_server.core.net_guard import OutboundPolicy, UrlNotAllowed
from core_server.freqtrade.schemas import (
    Balances,
    Daily,
    Logs,
    PerformanceEntry,
    Profit,
    ResultMsg,
    StatusMsg,
    Trade,
    TradesPage,
)


def get_manager(request: Request) -> BotManager:
    manager: BotManager = request.app.state.bot_manager
    return manager


def get_outbound_policy(request: Request) -> OutboundPolicy:
    policy: OutboundPolicy = request.app.state.outbound_policy
    return policy


Manager = Annotated[BotManager, Depends(get_manager)]
Policy = Annotated[OutboundPolicy, Depends(get_outbound_policy)]

router = APIRouter(prefix="/bots", tags=["bots"])

READ_ERRORS = error_responses(Unauthorized, BotNotFound)
WRITE_ERRORS = error_responses(Unauthorized, InsufficientRole, BotNotFound)
LIVE_ERRORS = error_responses(
    Unauthorized, BotNotFound, BotNotRunning, BotUnreachable, BotRequestFailed
)
LIVE_WRITE_ERRORS = error_responses(
    Unauthorized, InsufficientRole, BotNotFound, BotNotRunning, BotUnreachable, BotRequestFailed
)


@router.get("", response_model=Envelope[BotPage], responses=error_responses(Unauthorized))
async def list_bots(
    principal: CurrentPrincipal,
    session: SessionDep,
    status: BotStatus | None = None,
    search: Annotated[str | None, Query(max_length=100)] = None,
    limit: PageLimit = 50,
    offset: PageOffset = 0,
) -> Envelope[BotPage]:
    """Your bots (all bots for admins), filtered by status and name."""
    return ok(
        await service.list_bots(
            session, principal, status=status, search=search, limit=limit, offset=offset
        )
    )


@router.post(
    "",
    status_code=201,
    response_model=Envelope[BotRead],
    responses=error_responses(
        Unauthorized, InsufficientRole, BotNameTaken, UnknownStrategy, InvalidBotConfig
    ),
)
async def create_bot(
    body: BotCreate, principal: Trader, session: SessionDep, manager: Manager
) -> Envelope[BotRead]:
    """Create a managed bot; freqtrade checks its config first. It starts stopped."""
    return ok(await service.create_bot(session, principal, manager, body), "Bot created.")


@router.post(
    "/external",
    status_code=201,
    response_model=Envelope[BotRead],
    responses=error_responses(Unauthorized, InsufficientRole, BotNameTaken, UrlNotAllowed),
)
async def attach_external_bot(
    body: ExternalBotCreate,
    principal: Trader,
    session: SessionDep,
    manager: Manager,
    policy: Policy,
) -> Envelope[BotRead]:
    """Attach a freqtrade bot that runs elsewhere (its URL and API credentials)."""
    bot = await service.create_external_bot(session, principal, manager, policy, body)
    return ok(bot, "External bot attached.")


@router.get("/{bot_id}", response_model=Envelope[BotRead], responses=READ_ERRORS)
async def get_bot(
    bot_id: ResourceId, principal: CurrentPrincipal, session: SessionDep
) -> Envelope[BotRead]:
    """One bot."""
    return ok(await service.get_bot(session, principal, bot_id))


@router.put(
    "/{bot_id}",
    response_model=Envelope[BotRead],
    responses=error_responses(
        Unauthorized, InsufficientRole, BotNotFound, BotNameTaken, InvalidBotConfig, NotManaged
    ),
)
async def update_bot(
    bot_id: ResourceId, body: BotUpdate, principal: Trader, session: SessionDep, manager: Manager
) -> Envelope[BotRead]:
    """Change a bot; a running bot picks the change up when it restarts."""
    bot = await service.update_bot(session, principal, manager, bot_id, body)
    note = " Restart the bot to apply it." if bot.status == BotStatus.running else ""
    return ok(bot, f"Bot updated.{note}")


@router.delete("/{bot_id}", response_model=Envelope[None], responses=WRITE_ERRORS)
async def delete_bot(
    bot_id: ResourceId, principal: Trader, session: SessionDep, manager: Manager
) -> Envelope[None]:
    """Delete a bot: its process is ended first, then its files are removed."""
    await service.delete_bot(session, principal, manager, bot_id)
    return ok(None, "Bot deleted.")


@router.post(
    "/{bot_id}/start",
    status_code=202,
    response_model=Envelope[BotStateChange],
    responses=error_responses(Unauthorized, InsufficientRole, BotNotFound, BotBusy, NotManaged),
)
async def start_bot(
    bot_id: ResourceId, principal: Trader, session: SessionDep, manager: Manager
) -> Envelope[BotStateChange]:
    """Start a bot. Answers at once; the bot turns running when its API answers."""
    return ok(await service.start_bot(session, principal, manager, bot_id), "Starting.")


@router.post(
    "/{bot_id}/stop",
    status_code=202,
    response_model=Envelope[BotStateChange],
    responses=error_responses(Unauthorized, InsufficientRole, BotNotFound, BotBusy, NotManaged),
)
async def stop_bot(
    bot_id: ResourceId, principal: Trader, session: SessionDep, manager: Manager
) -> Envelope[BotStateChange]:
    """Stop a bot (SIGTERM, then SIGKILL after the stop timeout)."""
    return ok(await service.stop_bot(session, principal, manager, bot_id), "Stopping.")


@router.post(
    "/{bot_id}/restart",
    status_code=202,
    response_model=Envelope[BotStateChange],
    responses=error_responses(Unauthorized, InsufficientRole, BotNotFound, BotBusy, NotManaged),
)
async def restart_bot(
    bot_id: ResourceId, principal: Trader, session: SessionDep, manager: Manager
) -> Envelope[BotStateChange]:
    """Stop and start a bot again (to apply changes)."""
    return ok(await service.restart_bot(session, principal, manager, bot_id), "Restarting.")


@router.get("/{bot_id}/config", response_model=Envelope[BotConfigRead], responses=READ_ERRORS)
async def get_bot_config(
    bot_id: ResourceId, principal: CurrentPrincipal, session: SessionDep, manager: Manager
) -> Envelope[BotConfigRead]:
    """The bot's config overrides and the freqtrade config it runs with (secrets masked)."""
    return ok(await service.get_config(session, principal, manager, bot_id))


@router.put(
    "/{bot_id}/config",
    response_model=Envelope[BotConfigRead],
    responses=error_responses(
        Unauthorized, InsufficientRole, BotNotFound, InvalidBotConfig, NotManaged
    ),
)
async def put_bot_config(
    bot_id: ResourceId,
    body: ConfigUpdate,
    principal: Trader,
    session: SessionDep,
    manager: Manager,
) -> Envelope[BotConfigRead]:
    """Replace the bot's freqtrade config overrides; freqtrade checks them first."""
    config = await service.put_config(session, principal, manager, bot_id, body.config)
    return ok(config, "Config saved; restart the bot to apply it.")


# --- live data from the bot's own API ---------------------------------------------------------


@router.get("/{bot_id}/status", response_model=Envelope[list[Trade]], responses=LIVE_ERRORS)
async def bot_status(
    bot_id: ResourceId, principal: CurrentPrincipal, session: SessionDep, manager: Manager
) -> Envelope[list[Trade]]:
    """Open trades."""
    return ok(await service.bot_call(session, principal, manager, bot_id, lambda c: c.status()))


@router.get("/{bot_id}/trades", response_model=Envelope[TradesPage], responses=LIVE_ERRORS)
async def bot_trades(
    bot_id: ResourceId,
    principal: CurrentPrincipal,
    session: SessionDep,
    manager: Manager,
    limit: PageLimit = 50,
    offset: PageOffset = 0,
) -> Envelope[TradesPage]:
    """Closed and open trades, newest last (freqtrade's paging)."""
    return ok(
        await service.bot_call(
            session, principal, manager, bot_id, lambda c: c.trades(limit=limit, offset=offset)
        )
    )


def _read_route(path: str, model: Any, doc: str, call: Any) -> None:
    async def endpoint(
        bot_id: ResourceId, principal: CurrentPrincipal, session: SessionDep, manager: Manager
    ) -> Any:
        return ok(await service.bot_call(session, principal, manager, bot_id, call))

    endpoint.__doc__ = doc
    endpoint.__name__ = f"bot_{path.strip('/')}"
    router.add_api_route(
        f"/{{bot_id}}{path}",
        endpoint,
        methods=["GET"],
        response_model=Envelope[model],
        responses=LIVE_ERRORS,
    )


_read_route("/profit", Profit, "Profit summary, as freqtrade computes it.", lambda c: c.profit())
_read_route("/balance", Balances, "Wallet balances.", lambda c: c.balance())
_read_route("/performance", list[PerformanceEntry], "Profit per pair.", lambda c: c.performance())


@router.get("/{bot_id}/daily", response_model=Envelope[Daily], responses=LIVE_ERRORS)
async def bot_daily(
    bot_id: ResourceId,
    principal: CurrentPrincipal,
    session: SessionDep,
    manager: Manager,
    timescale: Annotated[int, Query(ge=1, le=365)] = 7,
) -> Envelope[Daily]:
    """Profit per day for the last `timescale` days."""
    return ok(
        await service.bot_call(session, principal, manager, bot_id, lambda c: c.daily(timescale))
    )


@router.get("/{bot_id}/logs", response_model=Envelope[Logs], responses=LIVE_ERRORS)
async def bot_logs(
    bot_id: ResourceId,
    principal: CurrentPrincipal,
    session: SessionDep,
    manager: Manager,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Envelope[Logs]:
    """The bot's latest log lines."""
    return ok(await service.bot_call(session, principal, manager, bot_id, lambda c: c.logs(limit)))


@router.post("/{bot_id}/forceenter", response_model=Envelope[Trade], responses=LIVE_WRITE_ERRORS)
async def bot_forceenter(
    bot_id: ResourceId, body: ForceEnter, principal: Trader, session: SessionDep, manager: Manager
) -> Envelope[Trade]:
    """Open a trade now, whatever the strategy says."""
    trade = await service.forceenter(session, principal, manager, bot_id, body)
    return ok(Trade.model_validate(trade.model_dump()), "Trade entered.")


@router.post("/{bot_id}/forceexit", response_model=Envelope[ResultMsg], responses=LIVE_WRITE_ERRORS)
async def bot_forceexit(
    bot_id: ResourceId, body: ForceExit, principal: Trader, session: SessionDep, manager: Manager
) -> Envelope[ResultMsg]:
    """Close a trade (or all) now."""
    result = await service.forceexit(session, principal, manager, bot_id, body)
    return ok(ResultMsg.model_validate(result.model_dump()), "Exit requested.")


@router.post("/{bot_id}/pause", response_model=Envelope[StatusMsg], responses=LIVE_WRITE_ERRORS)
async def bot_pause(
    bot_id: ResourceId, principal: Trader, session: SessionDep, manager: Manager
) -> Envelope[StatusMsg]:
    """Stop opening new trades; open trades are still managed (freqtrade's stopentry)."""
    return ok(
        await service.bot_action(
            session, principal, manager, bot_id, "pause", lambda c: c.stopentry()
        ),
        "No new entries.",
    )


@router.post("/{bot_id}/reload", response_model=Envelope[StatusMsg], responses=LIVE_WRITE_ERRORS)
async def bot_reload(
    bot_id: ResourceId, principal: Trader, session: SessionDep, manager: Manager
) -> Envelope[StatusMsg]:
    """Reload the bot's config file in place (freqtrade's reload_config)."""
    return ok(
        await service.bot_action(
            session, principal, manager, bot_id, "reload", lambda c: c.reload_config()
        ),
        "Config reloaded.",
    )

"""What the collector knows of each bot, answered from the cache: never a call to a bot."""

from __future__ import annotations

from fastapi import APIRouter, Request

from core_server.auth.dependencies import CurrentPrincipal
from core_server.bots.errors import BotNotFound
from core_server.bots.models import Bot
from core_server.bots.repository import BotRepository
from core_server.collector.cache import LiveStateCache
from core_server.collector.schemas import BotLiveRead, BotLiveState, CollectionHealth
from core_server.core.database import utcnow
from core_server.core.deps import ResourceId, SessionDep
from core_server.core.envelope import Envelope, ok
from core_server.core.errors import Unauthorized, error_responses

router = APIRouter(tags=["bots"])


def _health(state: BotLiveState | None) -> CollectionHealth:
    if state is None:
        return CollectionHealth.unknown
    if not state.healthy:
        return CollectionHealth.unhealthy
    if state.consecutive_failures:
        return CollectionHealth.degraded
    return CollectionHealth.healthy


def _read(
    bot_id: int, name: str, status: str, stake_currency: str, state: BotLiveState | None
) -> BotLiveRead:
    read = BotLiveRead(
        bot_id=bot_id,
        name=name,
        status=status,
        health=_health(state),
        stake_currency=stake_currency,
    )
    if state is None:
        return read
    age = (utcnow() - state.collected_at).total_seconds() if state.collected_at else None
    return read.model_copy(
        update={
            "collected_at": state.collected_at,
            "age_seconds": round(age, 3) if age is not None else None,
            "last_error": state.last_error,
            "consecutive_failures": state.consecutive_failures,
            "equity": state.equity,
            "free": state.free,
            "profit_closed": state.profit_closed if state.collected_at else None,
            "profit_open": state.profit_open if state.collected_at else None,
            "open_trades": state.open_trades,
        }
    )


@router.get(
    "/fleet/live",
    response_model=Envelope[list[BotLiveRead]],
    responses=error_responses(Unauthorized),
)
async def fleet_live(
    principal: CurrentPrincipal, session: SessionDep, request: Request
) -> Envelope[list[BotLiveRead]]:
    """Every bot you can see, with the collector's latest figures and health (the dashboard's
    bot grid)."""
    cache: LiveStateCache = request.app.state.live_state
    stmt = BotRepository(session).readable(principal)
    columns = stmt.with_only_columns(Bot.id, Bot.name, Bot.status, Bot.stake_currency)
    bots = (await session.execute(columns.order_by(Bot.id))).all()
    states = await cache.get_many([bot.id for bot in bots])
    return ok([_read(*bot, states.get(bot[0])) for bot in bots])


@router.get(
    "/bots/{bot_id}/live",
    response_model=Envelope[BotLiveRead],
    responses=error_responses(Unauthorized, BotNotFound),
)
async def bot_live(
    bot_id: ResourceId, principal: CurrentPrincipal, session: SessionDep, request: Request
) -> Envelope[BotLiveRead]:
    """The collector's latest figures and health for one bot."""
    bot = await BotRepository(session).get(principal, bot_id)
    if bot is None:
        raise BotNotFound()
    cache: LiveStateCache = request.app.state.live_state
    state = (await cache.get_many([bot.id])).get(bot.id)
    return ok(_read(bot.id, bot.name, bot.status, bot.stake_currency, state))

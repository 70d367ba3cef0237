"""Analytics over the mirrored trades and equity: performance, profit over time, risk, the
portfolio overview and custom aggregations, per bot, per strategy or for the caller's fleet.
Definitions of every figure are in `core_server.analytics.service`."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel

from core_server.analytics import service
from core_server.analytics.cache import get_result_cache
from core_server.analytics.errors import StakeCurrencyRequired
from core_server.analytics.schemas import (
    ALLOWED_VALUES,
    FILTER_NAMES,
    CustomQuery,
    CustomQueryParams,
    CustomResult,
    PerformanceRead,
    PortfolioParams,
    PortfolioRead,
    ProfitParams,
    ProfitSeries,
    RiskRead,
    ScopeParams,
)
from core_server.auth.dependencies import CurrentPrincipal
from core_server.bots.errors import BotNotFound
from core_server.collector.cache import LiveStateCache
from core_server.core.deps import SessionDep
from core_server.core.envelope import Envelope, ok
from core_server.core.errors import InvalidInput, Unauthorized, error_responses, field_errors


class AnalyticsRoute(APIRoute):
    """422s that name an unknown group-by, metric, filter or parameter also list the allowed
    values, so a client can correct itself."""

    def _query_names(self) -> list[str]:
        names: list[str] = []
        for param in self.dependant.query_params:
            annotation = param.field_info.annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                names.extend(annotation.model_fields)
            else:
                names.append(param.alias)
        return names

    def _allowed(self, error: dict[str, Any]) -> list[str] | None:
        location, *path = [str(part) for part in error.get("loc", ())]
        if error.get("type") == "extra_forbidden":
            parents = [part for part in path[:-1] if not part.isdigit()]
            if location == "query" and not parents:
                return self._query_names()
            if location == "body" and parents == ["filters"]:
                return list(FILTER_NAMES)
            if location == "body" and not parents:
                return list(CustomQuery.model_fields)
            return None
        if error.get("type") in {"literal_error", "enum"} and path:
            values = ALLOWED_VALUES.get(path[0])
            return list(values) if values else None
        return None

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                allowed = [self._allowed(dict(error)) for error in exc.errors()]
                if not any(allowed):
                    raise
                fields = field_errors(exc)
                for field, values in zip(fields, allowed, strict=True):
                    if values:
                        field["allowed"] = values
                names = ", ".join(field["field"] for field in fields)
                raise InvalidInput(f"Invalid input: {names}.", details={"fields": fields}) from exc

        return route


def get_context(request: Request) -> service.AnalyticsContext:
    live: LiveStateCache = request.app.state.live_state
    return service.AnalyticsContext(live=live, results=get_result_cache(request))


Context = Annotated[service.AnalyticsContext, Depends(get_context)]

router = APIRouter(prefix="/analytics", tags=["analytics"], route_class=AnalyticsRoute)

ERRORS = error_responses(Unauthorized, BotNotFound, InvalidInput, StakeCurrencyRequired)


@router.get("/performance", response_model=Envelope[PerformanceRead], responses=ERRORS)
async def get_performance(
    params: Annotated[ScopeParams, Query()],
    principal: CurrentPrincipal,
    session: SessionDep,
    ctx: Context,
) -> Envelope[PerformanceRead]:
    """Profit, win rate, profit factor, expectancy, Sharpe, Sortino, Calmar, drawdown, CAGR."""
    return ok(await service.performance(session, principal, ctx, params))


@router.get("/profit", response_model=Envelope[ProfitSeries], responses=ERRORS)
async def get_profit(
    params: Annotated[ProfitParams, Query()],
    principal: CurrentPrincipal,
    session: SessionDep,
    ctx: Context,
) -> Envelope[ProfitSeries]:
    """Closed profit per day, week or month, with the cumulative profit and balance."""
    scope = ScopeParams(**params.model_dump(include=set(ScopeParams.model_fields)))
    return ok(
        await service.profit_series(session, principal, ctx, scope, params.period, params.limit)
    )


@router.get("/risk", response_model=Envelope[RiskRead], responses=ERRORS)
async def get_risk(
    params: Annotated[ScopeParams, Query()],
    principal: CurrentPrincipal,
    session: SessionDep,
    ctx: Context,
) -> Envelope[RiskRead]:
    """Exposure by asset, pair and bot, concentration, open risk, drawdown and 95 % VaR."""
    return ok(await service.risk(session, principal, ctx, params))


@router.get("/portfolio", response_model=Envelope[PortfolioRead], responses=ERRORS)
async def get_portfolio(
    params: Annotated[PortfolioParams, Query()],
    principal: CurrentPrincipal,
    session: SessionDep,
    ctx: Context,
) -> Envelope[PortfolioRead]:
    """Total value, change over 24 h (or since `since`), active positions, available balance."""
    return ok(await service.portfolio(session, principal, ctx, params))


@router.get("/custom", response_model=Envelope[CustomResult], responses=ERRORS)
async def get_custom(
    params: Annotated[CustomQueryParams, Query()],
    principal: CurrentPrincipal,
    session: SessionDep,
    ctx: Context,
) -> Envelope[CustomResult]:
    """A custom aggregation from query parameters (the same as the POST form, filters flat)."""
    return ok(await service.custom(session, principal, ctx, params.to_query()))


@router.post("/custom", response_model=Envelope[CustomResult], responses=ERRORS)
async def post_custom(
    body: CustomQuery, principal: CurrentPrincipal, session: SessionDep, ctx: Context
) -> Envelope[CustomResult]:
    """A custom aggregation: group_by, metrics and filters from whitelists (never raw SQL)."""
    return ok(await service.custom(session, principal, ctx, body))

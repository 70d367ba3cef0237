"""HTTP routes for risk rules (`/risk/rules`) and the alerts they raise (`/monitoring/alerts`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from core_server.auth.dependencies import CurrentPrincipal, Trader
from core_server.auth.errors import InsufficientRole
from core_server.core.deps import PageLimit, PageOffset, ResourceId, SessionDep
from core_server.core.envelope import Envelope, ok
from core_server.core.errors import InvalidInput, Unauthorized, error_responses
from core_server.risk import service
from core_server.risk.engine import RiskEngine
from core_server.risk.errors import AlertNotFound, RiskRuleNotFound
from core_server.risk.models import RuleKind
from core_server.risk.repository import AlertFilter
from core_server.risk.schemas import (
    AlertPage,
    AlertRead,
    RiskRuleCreate,
    RiskRulePage,
    RiskRuleRead,
    RiskRuleUpdate,
    Severity,
)


def get_risk_engine(request: Request) -> RiskEngine | None:
    """The engine of this process, when it runs one (its rule cache is told about changes)."""
    engine: RiskEngine | None = getattr(request.app.state, "risk_engine", None)
    return engine


Engine = Annotated[RiskEngine | None, Depends(get_risk_engine)]

router = APIRouter(tags=["monitoring"])

RULE_READ_ERRORS = error_responses(Unauthorized, RiskRuleNotFound)
RULE_WRITE_ERRORS = error_responses(Unauthorized, InsufficientRole, RiskRuleNotFound, InvalidInput)


@router.get(
    "/risk/rules", response_model=Envelope[RiskRulePage], responses=error_responses(Unauthorized)
)
async def list_rules(
    principal: CurrentPrincipal,
    session: SessionDep,
    kind: RuleKind | None = None,
    enabled: bool | None = None,
    limit: PageLimit = 50,
    offset: PageOffset = 0,
) -> Envelope[RiskRulePage]:
    """Your risk rules (all rules for admins)."""
    return ok(
        await service.list_rules(
            session, principal, kind=kind, enabled=enabled, limit=limit, offset=offset
        )
    )


@router.post(
    "/risk/rules",
    status_code=201,
    response_model=Envelope[RiskRuleRead],
    responses=error_responses(Unauthorized, InsufficientRole, InvalidInput),
)
async def create_rule(
    body: RiskRuleCreate, principal: Trader, session: SessionDep, engine: Engine
) -> Envelope[RiskRuleRead]:
    """Add a risk rule: fleet drawdown, a bot's daily loss or the open stake in one asset."""
    return ok(await service.create_rule(session, principal, engine, body), "Risk rule created.")


@router.get(
    "/risk/rules/{rule_id}", response_model=Envelope[RiskRuleRead], responses=RULE_READ_ERRORS
)
async def get_rule(
    rule_id: ResourceId, principal: CurrentPrincipal, session: SessionDep
) -> Envelope[RiskRuleRead]:
    """One risk rule, with its trigger state."""
    return ok(await service.get_rule(session, principal, rule_id))


@router.put(
    "/risk/rules/{rule_id}", response_model=Envelope[RiskRuleRead], responses=RULE_WRITE_ERRORS
)
async def update_rule(
    rule_id: ResourceId,
    body: RiskRuleUpdate,
    principal: Trader,
    session: SessionDep,
    engine: Engine,
) -> Envelope[RiskRuleRead]:
    """Change a risk rule; it re-arms and measures afresh."""
    rule = await service.update_rule(session, principal, engine, rule_id, body)
    return ok(rule, "Risk rule updated.")


@router.delete(
    "/risk/rules/{rule_id}",
    response_model=Envelope[None],
    responses=error_responses(Unauthorized, InsufficientRole, RiskRuleNotFound),
)
async def delete_rule(
    rule_id: ResourceId, principal: Trader, session: SessionDep, engine: Engine
) -> Envelope[None]:
    """Delete a risk rule; the alerts it raised stay."""
    await service.delete_rule(session, principal, engine, rule_id)
    return ok(None, "Risk rule deleted.")


@router.get(
    "/monitoring/alerts",
    response_model=Envelope[AlertPage],
    responses=error_responses(Unauthorized),
)
async def list_alerts(
    principal: CurrentPrincipal,
    session: SessionDep,
    acknowledged: bool | None = None,
    severity: Severity | None = None,
    bot_id: Annotated[int | None, Query(ge=1, le=2_147_483_647)] = None,
    since: datetime | None = None,
    limit: PageLimit = 50,
    offset: PageOffset = 0,
) -> Envelope[AlertPage]:
    """Your alerts, newest first (all alerts for admins)."""
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)  # a time without a zone is read as UTC
    where = AlertFilter(acknowledged=acknowledged, severity=severity, bot_id=bot_id, since=since)
    return ok(await service.list_alerts(session, principal, where, limit=limit, offset=offset))


@router.post(
    "/monitoring/alerts/{alert_id}/acknowledge",
    response_model=Envelope[AlertRead],
    responses=error_responses(Unauthorized, InsufficientRole, AlertNotFound),
)
async def acknowledge_alert(
    alert_id: ResourceId, principal: Trader, session: SessionDep
) -> Envelope[AlertRead]:
    """Mark an alert as seen."""
    return ok(await service.acknowledge_alert(session, principal, alert_id), "Alert acknowledged.")

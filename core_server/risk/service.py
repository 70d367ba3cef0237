"""The rules for risk rules and alerts: who may see and change which, and what a valid rule is.
Every face (REST, later MCP and chat) uses these; the engine that evaluates rules is engine.py."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from core_server.audit import service as audit
from core_server.auth.principal import Principal
from core_server.bots.repository import BotRepository
from core_server.core.database import after_commit, utcnow
from core_server.core.errors import InvalidInput
from core_server.risk.errors import AlertNotFound, RiskRuleNotFound
from core_server.risk.models import RiskRule, RuleAction, RuleKind
from core_server.risk.repository import AlertFilter, AlertRepository, RiskRuleRepository
from core_server.risk.schemas import (
    ACTIONS_BY_KIND,
    AlertPage,
    AlertRead,
    RiskRuleCreate,
    RiskRulePage,
    RiskRuleRead,
    RiskRuleUpdate,
)


class RuleCache(Protocol):
    """The engine's cache of rules, told when an owner's rules change."""

    def invalidate(self, owner_id: int) -> None: ...


def _invalidate(session: AsyncSession, cache: RuleCache | None, owner_id: int) -> None:
    if cache is not None:
        after_commit(session, lambda: cache.invalidate(owner_id))


async def _check(
    session: AsyncSession,
    principal: Principal,
    *,
    owner_id: int,
    kind: RuleKind,
    threshold: Decimal,
    action: RuleAction,
    bot_id: int | None,
    asset: str | None,
) -> None:
    """The rules that span fields; every bad field is named in one 422."""
    bad: list[dict[str, str]] = []
    if kind == RuleKind.fleet_max_drawdown and threshold > 1:
        bad.append(
            {"field": "threshold", "message": "a drawdown is a ratio in (0, 1]: 0.2 is 20 %"}
        )
    if kind == RuleKind.asset_max_exposure and not asset:
        bad.append({"field": "asset", "message": "asset_max_exposure needs the asset (BTC)"})
    if kind != RuleKind.asset_max_exposure and asset:
        bad.append({"field": "asset", "message": "only asset_max_exposure takes an asset"})
    if kind != RuleKind.bot_daily_loss and bot_id is not None:
        bad.append(
            {"field": "bot_id", "message": f"{kind.value} covers all of your bots; leave it out"}
        )
    if action not in ACTIONS_BY_KIND[kind]:
        allowed = ", ".join(sorted(a.value for a in ACTIONS_BY_KIND[kind]))
        bad.append({"field": "action", "message": f"{kind.value} allows the actions {allowed}"})
    if bot_id is not None and kind == RuleKind.bot_daily_loss:
        bot = await BotRepository(session).get(principal, bot_id)
        if bot is None or bot.owner_id != owner_id:
            bad.append({"field": "bot_id", "message": f"no bot {bot_id} among your bots"})
    if bad:
        names = ", ".join(dict.fromkeys(b["field"] for b in bad))
        raise InvalidInput(f"Invalid input: {names}.", details={"fields": bad})


def _details(rule: RiskRule) -> dict[str, Any]:
    return {
        "kind": rule.kind,
        "threshold": str(rule.threshold),
        "action": rule.action,
        "bot_id": rule.bot_id,
        "asset": rule.asset,
        "enabled": rule.enabled,
    }


async def _owned(session: AsyncSession, principal: Principal, rule_id: int) -> RiskRule:
    rule = await RiskRuleRepository(session).get(principal, rule_id, for_update=True)
    if rule is None:
        raise RiskRuleNotFound()
    return rule


async def list_rules(
    session: AsyncSession,
    principal: Principal,
    *,
    kind: RuleKind | None,
    enabled: bool | None,
    limit: int,
    offset: int,
) -> RiskRulePage:
    rows, total = await RiskRuleRepository(session).page(
        principal, kind=kind, enabled=enabled, limit=limit, offset=offset
    )
    items = [RiskRuleRead.model_validate(r) for r in rows]
    return RiskRulePage(items=items, total=total, limit=limit, offset=offset)


async def get_rule(session: AsyncSession, principal: Principal, rule_id: int) -> RiskRuleRead:
    rule = await RiskRuleRepository(session).get(principal, rule_id)
    if rule is None:
        raise RiskRuleNotFound()
    return RiskRuleRead.model_validate(rule)


async def create_rule(
    session: AsyncSession, principal: Principal, cache: RuleCache | None, body: RiskRuleCreate
) -> RiskRuleRead:
    await _check(
        session,
        principal,
        owner_id=principal.user_id,
        kind=body.kind,
        threshold=body.threshold,
        action=body.action,
        bot_id=body.bot_id,
        asset=body.asset,
    )
    rule = RiskRule(
        owner_id=principal.user_id,
        bot_id=body.bot_id,
        kind=body.kind,
        threshold=body.threshold,
        asset=body.asset,
        action=body.action,
        enabled=body.enabled,
        triggered_bot_ids=[],
        version=1,
    )
    RiskRuleRepository(session).add(rule)
    await session.flush()
    await session.refresh(rule)
    audit.record(
        session,
        "risk_rule.create",
        actor=principal,
        resource_type="risk_rule",
        resource_id=rule.id,
        details=_details(rule),
    )
    _invalidate(session, cache, rule.owner_id)
    return RiskRuleRead.model_validate(rule)


async def update_rule(
    session: AsyncSession,
    principal: Principal,
    cache: RuleCache | None,
    rule_id: int,
    body: RiskRuleUpdate,
) -> RiskRuleRead:
    """Any change starts the rule afresh: it re-arms and forgets the fleet's peak."""
    rule = await _owned(session, principal, rule_id)
    changes = body.model_dump(exclude_unset=True)
    for field in ("threshold", "action", "enabled"):
        if field in changes and changes[field] is None:
            raise InvalidInput.field(field, f"{field} cannot be empty")
    if not changes:
        return RiskRuleRead.model_validate(rule)
    kind = RuleKind(rule.kind)
    await _check(
        session,
        principal,
        owner_id=rule.owner_id,
        kind=kind,
        threshold=changes.get("threshold", rule.threshold),
        action=RuleAction(changes.get("action", rule.action)),
        bot_id=changes.get("bot_id", rule.bot_id),
        asset=changes.get("asset", rule.asset),
    )
    for field, value in changes.items():
        setattr(rule, field, value)
    rule.triggered_at = None
    rule.triggered_bot_ids = []
    rule.peak_equity = None
    rule.version += 1
    await session.flush()
    audit.record(
        session,
        "risk_rule.update",
        actor=principal,
        resource_type="risk_rule",
        resource_id=rule.id,
        details={"fields": sorted(changes), **_details(rule)},
    )
    _invalidate(session, cache, rule.owner_id)
    return RiskRuleRead.model_validate(rule)


async def delete_rule(
    session: AsyncSession, principal: Principal, cache: RuleCache | None, rule_id: int
) -> None:
    rule = await _owned(session, principal, rule_id)
    await RiskRuleRepository(session).delete(rule)
    audit.record(
        session,
        "risk_rule.delete",
        actor=principal,
        resource_type="risk_rule",
        resource_id=rule_id,
        details=_details(rule),
    )
    _invalidate(session, cache, rule.owner_id)


# --- alerts ------------------------------------------------------------------------------------


async def list_alerts(
    session: AsyncSession, principal: Principal, where: AlertFilter, *, limit: int, offset: int
) -> AlertPage:
    rows, total = await AlertRepository(session).page(principal, where, limit=limit, offset=offset)
    items = [AlertRead.model_validate(a) for a in rows]
    return AlertPage(items=items, total=total, limit=limit, offset=offset)


async def acknowledge_alert(
    session: AsyncSession, principal: Principal, alert_id: int
) -> AlertRead:
    """Mark an alert seen. Acknowledging it again keeps the first acknowledgement."""
    alert = await AlertRepository(session).get(principal, alert_id, for_update=True)
    if alert is None:
        raise AlertNotFound()
    if alert.acknowledged_at is None:
        alert.acknowledged_at = utcnow()
        alert.acknowledged_by = principal.user_id
        await session.flush()
        audit.record(
            session,
            "alert.acknowledge",
            actor=principal,
            resource_type="alert",
            resource_id=alert.id,
            details={"kind": alert.kind, "severity": alert.severity},
        )
    return AlertRead.model_validate(alert)

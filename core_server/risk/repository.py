"""Queries for risk rules and alerts, and the few reads of other features' tables the risk
engine needs (bots, the trade mirror, equity snapshots)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Select, and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core_server.auth.principal import Principal
from core_server.bots.models import Bot, BotKind, BotStatus
from core_server.collector.models import EquitySnapshot, MirroredTrade
from core_server.core.repository import OwnedRepository
from core_server.risk.models import Alert, RiskRule


class RiskRuleRepository(OwnedRepository[RiskRule]):
    model = RiskRule

    async def page(
        self,
        principal: Principal,
        *,
        kind: str | None,
        enabled: bool | None,
        limit: int,
        offset: int,
    ) -> tuple[Sequence[RiskRule], int]:
        stmt = self.readable(principal)
        if kind is not None:
            stmt = stmt.where(RiskRule.kind == kind)
        if enabled is not None:
            stmt = stmt.where(RiskRule.enabled.is_(enabled))
        return await self.paged(stmt, limit=limit, offset=offset)

    async def delete(self, rule: RiskRule) -> None:
        await self.session.delete(rule)

    # --- for the engine (no principal: it acts for the system) ----------------------------------

    async def owners_with_rules(self) -> set[int]:
        stmt = select(RiskRule.owner_id).where(RiskRule.enabled.is_(True)).distinct()
        return set((await self.session.execute(stmt)).scalars())

    async def enabled_for_owner(self, owner_id: int) -> Sequence[RiskRule]:
        stmt = (
            select(RiskRule)
            .where(RiskRule.owner_id == owner_id, RiskRule.enabled.is_(True))
            .order_by(RiskRule.id)
        )
        return (await self.session.execute(stmt)).scalars().all()

    async def save_peak(self, rule_id: int, version: int, peak: Decimal) -> bool:
        """Store a fleet rule's new peak unless the rule changed since it was measured."""
        result = await self.session.execute(
            update(RiskRule)
            .where(RiskRule.id == rule_id, RiskRule.version == version)
            .values(peak_equity=peak)
        )
        return bool(getattr(result, "rowcount", 0) == 1)

    async def locked(self, rule_id: int) -> RiskRule | None:
        stmt = select(RiskRule).where(RiskRule.id == rule_id).with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()


@dataclass(frozen=True)
class AlertFilter:
    acknowledged: bool | None = None
    severity: str | None = None
    bot_id: int | None = None
    since: datetime | None = None


class AlertRepository(OwnedRepository[Alert]):
    model = Alert

    async def page(
        self, principal: Principal, where: AlertFilter, *, limit: int, offset: int
    ) -> tuple[Sequence[Alert], int]:
        stmt = self.readable(principal)
        if where.acknowledged is True:
            stmt = stmt.where(Alert.acknowledged_at.is_not(None))
        elif where.acknowledged is False:
            stmt = stmt.where(Alert.acknowledged_at.is_(None))
        if where.severity is not None:
            stmt = stmt.where(Alert.severity == where.severity)
        if where.bot_id is not None:
            stmt = stmt.where(Alert.bot_id == where.bot_id)
        if where.since is not None:
            stmt = stmt.where(Alert.created_at >= where.since)
        return await self.paged(stmt, limit=limit, offset=offset, newest_first=True)


def _collected(owner_id: int) -> Select[Bot]:
    """The owner's bots that run (the ones the collector syncs and an action can reach)."""
    return select(Bot).where(
        Bot.owner_id == owner_id,
        ((Bot.kind == BotKind.managed) & (Bot.status == BotStatus.running))
        | ((Bot.kind == BotKind.external) & Bot.is_active),
    )


class FleetReadings:
    """What the risk engine reads about an owner's fleet, each a single indexed query."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def bot_ids(self, owner_id: int) -> set[int]:
        stmt = select(Bot.id).where(Bot.owner_id == owner_id)
        return set((await self.session.execute(stmt)).scalars())

    async def running_bots(self, owner_id: int, bot_ids: Iterable[int] | None = None) -> list[Bot]:
        stmt = _collected(owner_id).order_by(Bot.id)
        if bot_ids is not None:
            stmt = stmt.where(Bot.id.in_(list(bot_ids)))
        return list((await self.session.execute(stmt)).scalars())

    async def stoppable_bots(self, owner_id: int) -> list[Bot]:
        """Managed bots whose process is (or may be) up, and active external bots."""
        stmt = (
            select(Bot)
            .where(
                Bot.owner_id == owner_id,
                (
                    (Bot.kind == BotKind.managed)
                    & Bot.status.in_([BotStatus.running, BotStatus.starting, BotStatus.error])
                )
                | ((Bot.kind == BotKind.external) & Bot.is_active),
            )
            .order_by(Bot.id)
        )
        return list((await self.session.execute(stmt)).scalars())

    async def realised_since(self, bot_id: int, since: datetime) -> Decimal:
        """Profit of the bot's trades closed at or after `since` (from the mirror)."""
        stmt = select(func.coalesce(func.sum(MirroredTrade.profit_abs), 0)).where(
            MirroredTrade.bot_id == bot_id,
            MirroredTrade.is_open.is_(False),
            MirroredTrade.close_date >= since,
        )
        return Decimal(str((await self.session.execute(stmt)).scalar_one()))

    async def open_stake(
        self, owner_id: int, assets: Iterable[str]
    ) -> list[tuple[str, str, int, Decimal]]:
        """(asset, stake currency, bot id, open stake) for the owner's open trades in `assets`."""
        stmt = (
            select(
                MirroredTrade.base_currency,
                MirroredTrade.stake_currency,
                MirroredTrade.bot_id,
                func.sum(MirroredTrade.stake_amount),
            )
            .where(
                MirroredTrade.owner_id == owner_id,
                MirroredTrade.close_date.is_(None),
                MirroredTrade.is_open.is_(True),
                MirroredTrade.base_currency.in_(list(assets)),
            )
            .group_by(
                MirroredTrade.base_currency, MirroredTrade.stake_currency, MirroredTrade.bot_id
            )
        )
        rows = (await self.session.execute(stmt)).all()
        return [(str(a), str(c), int(b), Decimal(str(s or 0))) for a, c, b, s in rows]

    async def last_equity(self, bot_ids: Iterable[int]) -> dict[int, Decimal]:
        """The equity of each bot's newest snapshot (bots without one are left out)."""
        ids = list(bot_ids)
        if not ids:
            return {}
        newest = (
            select(EquitySnapshot.bot_id, func.max(EquitySnapshot.taken_at).label("taken_at"))
            .where(EquitySnapshot.bot_id.in_(ids))
            .group_by(EquitySnapshot.bot_id)
            .subquery()
        )
        stmt = select(EquitySnapshot.bot_id, EquitySnapshot.equity).join(
            newest,
            and_(
                EquitySnapshot.bot_id == newest.c.bot_id,
                EquitySnapshot.taken_at == newest.c.taken_at,
            ),
        )
        return {int(b): Decimal(str(e)) for b, e in (await self.session.execute(stmt)).all()}

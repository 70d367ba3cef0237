from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select, update

from core_server.auth.principal import Principal
from core_server.bots.models import Bot
from core_server.core.repository import OwnedRepository
from core_server.strategies.models import Strategy, StrategySource, StrategyVersion


class StrategyRepository(OwnedRepository[Strategy]):
    model = Strategy

    async def page(
        self,
        principal: Principal,
        *,
        search: str | None,
        tag: str | None,
        is_active: bool | None,
        limit: int,
        offset: int,
    ) -> tuple[Sequence[Strategy], int]:
        stmt = self.readable(principal)
        if search:
            pattern = f"%{search.lower().replace('%', '').replace('_', '')}%"
            stmt = stmt.where(func.lower(Strategy.name).like(pattern))
        if is_active is not None:
            stmt = stmt.where(Strategy.is_active == is_active)
        if tag:
            # Tags are a JSON list: filtered here, the same way on SQLite and PostgreSQL (one
            # user's library is small enough to read whole).
            everything = await self.session.execute(stmt.order_by(Strategy.id))
            rows = [row for row in everything.scalars() if tag in row.tags]
            return rows[offset : offset + limit], len(rows)
        return await self.paged(stmt, limit=limit, offset=offset)

    async def by_name(self, owner_id: int, name: str) -> Strategy | None:
        stmt = select(Strategy).where(Strategy.owner_id == owner_id, Strategy.name == name)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def name_taken(self, owner_id: int, name: str, *, other_than: int | None = None) -> bool:
        stmt = select(Strategy.id).where(Strategy.owner_id == owner_id, Strategy.name == name)
        if other_than is not None:
            stmt = stmt.where(Strategy.id != other_than)
        return (await self.session.execute(stmt.limit(1))).first() is not None

    async def from_source(self, source_id: int) -> Sequence[Strategy]:
        stmt = select(Strategy).where(Strategy.source_id == source_id).order_by(Strategy.id)
        return (await self.session.execute(stmt)).scalars().all()

    async def detach_source(self, source_id: int) -> None:
        await self.session.execute(
            update(Strategy).where(Strategy.source_id == source_id).values(source_id=None)
        )

    # --- versions ------------------------------------------------------------------------------

    async def version(self, strategy_id: int, number: int) -> StrategyVersion | None:
        stmt = select(StrategyVersion).where(
            StrategyVersion.strategy_id == strategy_id, StrategyVersion.number == number
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def version_by_id(self, version_id: int) -> StrategyVersion | None:
        return await self.session.get(StrategyVersion, version_id)

    async def version_ids(self, strategy_ids: Sequence[int]) -> dict[int, dict[int, int]]:
        """strategy id -> {version number: version id}, for the strategies given."""
        if not strategy_ids:
            return {}
        stmt = select(
            StrategyVersion.strategy_id, StrategyVersion.number, StrategyVersion.id
        ).where(StrategyVersion.strategy_id.in_(list(strategy_ids)))
        found: dict[int, dict[int, int]] = {}
        for strategy_id, number, version_id in await self.session.execute(stmt):
            found.setdefault(strategy_id, {})[number] = version_id
        return found

    async def versions(
        self, strategy_id: int, *, limit: int, offset: int
    ) -> tuple[Sequence[StrategyVersion], int]:
        stmt = select(StrategyVersion).where(StrategyVersion.strategy_id == strategy_id)
        total = await self.session.execute(select(func.count()).select_from(stmt.subquery()))
        rows = await self.session.execute(
            stmt.order_by(StrategyVersion.number.desc()).limit(limit).offset(offset)
        )
        return rows.scalars().all(), total.scalar_one()

    async def latest_number(self, strategy_id: int) -> int:
        stmt = select(func.max(StrategyVersion.number)).where(
            StrategyVersion.strategy_id == strategy_id
        )
        return (await self.session.execute(stmt)).scalar_one() or 0

    async def bots_pinning(self, strategy_id: int) -> list[tuple[int, str]]:
        stmt = (
            select(Bot.id, Bot.name)
            .join(StrategyVersion, Bot.strategy_version_id == StrategyVersion.id)
            .where(StrategyVersion.strategy_id == strategy_id)
            .order_by(Bot.id)
        )
        return [(row[0], row[1]) for row in await self.session.execute(stmt)]


class SourceRepository(OwnedRepository[StrategySource]):
    model = StrategySource

    async def page(
        self, principal: Principal, *, limit: int, offset: int
    ) -> tuple[Sequence[StrategySource], int]:
        return await self.paged(self.readable(principal), limit=limit, offset=offset)

    async def exists(self, owner_id: int, url: str, branch: str, path: str) -> bool:
        stmt = select(StrategySource.id).where(
            StrategySource.owner_id == owner_id,
            StrategySource.url == url,
            StrategySource.branch == branch,
            StrategySource.path == path,
        )
        return (await self.session.execute(stmt.limit(1))).first() is not None

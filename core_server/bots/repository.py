from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core_server.auth.principal import Principal
from core_server.bots.models import Bot


class BotRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def readable(self, principal: Principal) -> Select[Bot]:
        stmt = select(Bot)
        return stmt if principal.is_admin else stmt.where(Bot.owner_id == principal.user_id)

    async def get(
        self, principal: Principal, bot_id: int, *, for_update: bool = False
    ) -> Bot | None:
        stmt = self.readable(principal).where(Bot.id == bot_id)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def page(
        self,
        principal: Principal,
        *,
        status: str | None,
        search: str | None,
        limit: int,
        offset: int,
    ) -> tuple[Sequence[Bot], int]:
        stmt = self.readable(principal)
        if status:
            stmt = stmt.where(Bot.status == status)
        if search:
            pattern = f"%{search.lower().replace('%', '').replace('_', '')}%"
            stmt = stmt.where(func.lower(Bot.name).like(pattern))
        total = await self.session.execute(select(func.count()).select_from(stmt.subquery()))
        rows = await self.session.execute(stmt.order_by(Bot.id).limit(limit).offset(offset))
        return rows.scalars().all(), total.scalar_one()

    async def name_taken(self, owner_id: int, name: str, *, other_than: int | None = None) -> bool:
        stmt = select(Bot.id).where(Bot.owner_id == owner_id, func.lower(Bot.name) == name.lower())
        if other_than is not None:
            stmt = stmt.where(Bot.id != other_than)
        return (await self.session.execute(stmt.limit(1))).first() is not None

    def add(self, bot: Bot) -> None:
        self.session.add(bot)

    async def delete(self, bot: Bot) -> None:
        await self.session.delete(bot)

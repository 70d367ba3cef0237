from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select

from core_server.auth.principal import Principal
from core_server.bots.models import Bot
from core_server.core.repository import OwnedRepository


class BotRepository(OwnedRepository[Bot]):
    model = Bot

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
        return await self.paged(stmt, limit=limit, offset=offset)

    async def name_taken(self, owner_id: int, name: str, *, other_than: int | None = None) -> bool:
        stmt = select(Bot.id).where(Bot.owner_id == owner_id, func.lower(Bot.name) == name.lower())
        if other_than is not None:
            stmt = stmt.where(Bot.id != other_than)
        return (await self.session.execute(stmt.limit(1))).first() is not None

    async def delete(self, bot: Bot) -> None:
        await self.session.delete(bot)

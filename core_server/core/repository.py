"""What every repository of a user's own rows shares: admins read all rows, everyone else their
own, and another user's row reads as missing (the routes answer 404 for it, as for a row that
does not exist)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core_server.auth.principal import Principal

M = TypeVar("M")


class OwnedRepository(Generic[M]):
    """Subclasses name their `model`; it has an `id` and an `owner_id` column."""

    model: ClassVar[type[Any]]

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def _column(self, name: str) -> ColumnElement[Any]:
        column: ColumnElement[Any] = getattr(self.model, name)
        return column

    def readable(self, principal: Principal) -> Select[M]:
        stmt: Select[M] = select(self.model)
        if principal.is_admin:
            return stmt
        return stmt.where(self._column("owner_id") == principal.user_id)

    async def get(self, principal: Principal, row_id: int, *, for_update: bool = False) -> M | None:
        stmt = self.readable(principal).where(self._column("id") == row_id)
        if for_update:
            stmt = stmt.with_for_update()
        row: M | None = (await self.session.execute(stmt)).scalar_one_or_none()
        return row

    async def paged(
        self, stmt: Select[M], *, limit: int, offset: int, newest_first: bool = False
    ) -> tuple[Sequence[M], int]:
        """One page of `stmt`'s rows by id, and how many rows it has in all."""
        total = await self.session.execute(select(func.count()).select_from(stmt.subquery()))
        order = self._column("id").desc() if newest_first else self._column("id")
        rows = await self.session.execute(stmt.order_by(order).limit(limit).offset(offset))
        return rows.scalars().all(), int(total.scalar_one())

    def add(self, row: M) -> None:
        self.session.add(row)

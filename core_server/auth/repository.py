from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core_server.auth.models import (
    SYSTEM_USERNAMES,
    ApiKey,
    AuthSession,
    RecoveryCode,
    RefreshToken,
    User,
)
from core_server.auth.principal import Principal


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def count_people(self) -> int:
        """Users other than the system's own accounts."""
        stmt = select(func.count(User.id)).where(User.username.not_in(SYSTEM_USERNAMES))
        return (await self.session.execute(stmt)).scalar_one()

    async def get(self, user_id: int) -> User | None:
        return await self.session.get(User, user_id)

    async def by_username(self, username: str) -> User | None:
        stmt = select(User).where(User.username == username)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def username_or_email_taken(self, username: str, email: str) -> str | None:
        stmt = select(User.username, User.email).where(
            (User.username == username) | (func.lower(User.email) == email.lower())
        )
        row = (await self.session.execute(stmt.limit(1))).first()
        if row is None:
            return None
        return "username" if row.username == username else "email"

    async def email_taken(self, email: str, *, other_than: int) -> bool:
        stmt = select(User.id).where(func.lower(User.email) == email.lower(), User.id != other_than)
        return (await self.session.execute(stmt.limit(1))).first() is not None

    async def page(self, *, limit: int, offset: int) -> tuple[Sequence[User], int]:
        total = (await self.session.execute(select(func.count(User.id)))).scalar_one()
        rows = await self.session.execute(
            select(User).order_by(User.id).limit(limit).offset(offset)
        )
        return rows.scalars().all(), total

    def add(self, user: User) -> None:
        self.session.add(user)


class SessionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, auth_session: AuthSession) -> None:
        self.session.add(auth_session)

    async def get_with_user(self, session_id: str) -> tuple[AuthSession, User] | None:
        stmt = (
            select(AuthSession, User)
            .join(User, User.id == AuthSession.user_id)
            .where(AuthSession.id == session_id)
        )
        row = (await self.session.execute(stmt)).first()
        return (row[0], row[1]) if row else None

    async def refresh_token(self, token_hash: str) -> RefreshToken | None:
        stmt = select(RefreshToken).where(RefreshToken.token_hash == token_hash)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def spend_refresh_token(self, token_id: int, now: datetime) -> bool:
        """Mark a refresh token used; False when another request spent it first."""
        result = await self.session.execute(
            update(RefreshToken)
            .where(RefreshToken.id == token_id, RefreshToken.used_at.is_(None))
            .values(used_at=now)
        )
        return bool(getattr(result, "rowcount", 0) == 1)

    async def revoke(self, session_id: str, now: datetime, reason: str) -> None:
        await self.session.execute(
            update(AuthSession)
            .where(AuthSession.id == session_id, AuthSession.revoked_at.is_(None))
            .values(revoked_at=now, revoked_reason=reason)
        )

    async def revoke_all_for_user(
        self, user_id: int, now: datetime, reason: str, *, keep: str | None = None
    ) -> None:
        stmt = update(AuthSession).where(
            AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None)
        )
        if keep is not None:
            stmt = stmt.where(AuthSession.id != keep)
        await self.session.execute(stmt.values(revoked_at=now, revoked_reason=reason))


class RecoveryCodeRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def replace(self, user_id: int, digests: list[str]) -> None:
        await self.clear(user_id)
        self.session.add_all(RecoveryCode(user_id=user_id, code_hash=d) for d in digests)

    async def clear(self, user_id: int) -> None:
        await self.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))

    async def spend(self, user_id: int, digest: str, now: datetime) -> bool:
        result = await self.session.execute(
            update(RecoveryCode)
            .where(
                RecoveryCode.user_id == user_id,
                RecoveryCode.code_hash == digest,
                RecoveryCode.used_at.is_(None),
            )
            .values(used_at=now)
        )
        return bool(getattr(result, "rowcount", 0) == 1)

    async def left(self, user_id: int) -> int:
        stmt = select(func.count(RecoveryCode.id)).where(
            RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None)
        )
        return (await self.session.execute(stmt)).scalar_one()


class ApiKeyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, key: ApiKey) -> None:
        self.session.add(key)

    async def owned(self, principal: Principal, key_id: int) -> ApiKey | None:
        # Keys are personal: even an admin manages only their own through this API.
        stmt = select(ApiKey).where(ApiKey.id == key_id, ApiKey.owner_id == principal.user_id)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def list_owned(self, principal: Principal) -> Sequence[ApiKey]:
        stmt = select(ApiKey).where(ApiKey.owner_id == principal.user_id).order_by(ApiKey.id)
        return (await self.session.execute(stmt)).scalars().all()

    async def by_prefix_with_owner(self, prefix: str) -> tuple[ApiKey, User] | None:
        stmt = (
            select(ApiKey, User)
            .join(User, User.id == ApiKey.owner_id)
            .where(ApiKey.prefix == prefix)
        )
        row = (await self.session.execute(stmt)).first()
        return (row[0], row[1]) if row else None

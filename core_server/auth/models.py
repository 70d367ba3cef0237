"""Accounts, login sessions, refresh tokens, recovery codes and API keys."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from core_server.core.database import Base, TimestampMixin


class Role(StrEnum):
    admin = "admin"
    trader = "trader"
    viewer = "viewer"


ROLE_RANK = {Role.viewer: 0, Role.trader: 1, Role.admin: 2}


class ApiKeyScope(StrEnum):
    read = "read"
    trade = "trade"
    admin = "admin"


# The role an API key acts with, before it is capped by its owner's own role.
SCOPE_ROLE = {
    ApiKeyScope.read: Role.viewer,
    ApiKeyScope.trade: Role.trader,
    ApiKeyScope.admin: Role.admin,
}


# Accounts the system makes for itself (the demo fleet's owner). They never log in, and do not
# count as "a user exists" when deciding whether the first registration is open.
SYSTEM_USERNAMES = frozenset({"demo"})


class User(TimestampMixin, Base):
    __tablename__ = "users"
    __table_args__ = (
        Index("idx_users_username", "username"),
        Index("idx_users_email", "email"),
        Index("idx_users_is_active", "is_active"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(50), unique=True)
    email: Mapped[str] = mapped_column(String(100), unique=True)
    hashed_password: Mapped[str] = mapped_column(String(200))
    full_name: Mapped[str | None] = mapped_column(String(100))
    is_active: Mapped[bool] = mapped_column(default=True)
    # The seed's superuser flag; it always travels with the admin role.
    is_superuser: Mapped[bool] = mapped_column(default=False)
    role: Mapped[str] = mapped_column(String(16), default=Role.trader)
    last_login: Mapped[datetime | None]
    mfa_enabled: Mapped[bool] = mapped_column(default=False)
    # Encrypted with the SecretBox; the pending one waits for its first code to be confirmed.
    totp_secret: Mapped[str | None] = mapped_column(String(300))
    totp_pending_secret: Mapped[str | None] = mapped_column(String(300))
    # The last TOTP time step accepted, so one code cannot be replayed within its window.
    totp_last_step: Mapped[int | None]

    @property
    def is_admin(self) -> bool:
        return self.is_superuser or self.role == Role.admin


class AuthSession(Base):
    """One login: its refresh tokens rotate, and revoking it ends every token it issued."""

    __tablename__ = "auth_sessions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    last_used_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    revoked_reason: Mapped[str | None] = mapped_column(String(64))
    client_address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))


class RefreshToken(Base):
    __tablename__ = "refresh_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[str] = mapped_column(
        ForeignKey("auth_sessions.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    # Set when the token is exchanged; presenting it again means it was stolen.
    used_at: Mapped[datetime | None]


class RecoveryCode(Base):
    __tablename__ = "mfa_recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # HMAC-SHA256 keyed from SECRET_KEY: a leaked table alone cannot be brute-forced.
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    used_at: Mapped[datetime | None]


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    # The public part of the key, shown in lists so a user can tell keys apart.
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

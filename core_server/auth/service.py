"""Accounts and login sessions: registration, login (with MFA), token rotation, logout and
passwords. Routes, the CLI and later faces all come through here."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core_server.audit import service as audit
from core_server.auth import totp
from core_server.auth.errors import (
    AccountDisabled,
    CannotChangeSelf,
    InvalidCredentials,
    InvalidMfaCode,
    InvalidToken,
    MfaRequired,
    RefreshTokenReused,
    RegistrationClosed,
    SessionRevoked,
    TokenExpired,
    UserExists,
    UserNotFound,
    WeakPassword,
)
from core_server.auth.models import AuthSession, RefreshToken, Role, User
from core_server.auth.principal import Principal
from core_server.auth.repository import RecoveryCodeRepository, SessionRepository, UserRepository
from core_server.auth.schemas import (
    AdminUserCreate,
    AdminUserUpdate,
    ChangePasswordRequest,
    LoginRequest,
    RegisterRequest,
    TokenPair,
    UserPage,
    UserRead,
    UserUpdate,
    password_problem,
)
from core_server.core.database import on_rollback, utcnow
from core_server.core.request_context import current_client_address
from core_server.core.security import (
    Keys,
    encode_access_token,
    hash_password,
    new_token,
    password_needs_rehash,
    token_digest,
    verify_password,
)
from core_server.core.settings import Settings


@dataclass(frozen=True)
class AuthContext:
    """What the auth services need beyond the database session."""

    settings: Settings
    keys: Keys


# --- users -----------------------------------------------------------------------------------


async def _insert_user(session: AsyncSession, user: User) -> User:
    repo = UserRepository(session)
    taken = await repo.username_or_email_taken(user.username, user.email)
    if taken:
        raise UserExists(f"That {taken} is already registered.", details={"field": taken})
    repo.add(user)
    try:
        # A savepoint, so losing a race with a concurrent registration is a clean 409.
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise UserExists() from exc
    return user


async def register(session: AsyncSession, ctx: AuthContext, body: RegisterRequest) -> UserRead:
    """Open when no user exists yet (that one becomes the administrator) or when
    ALLOW_REGISTRATION is on."""
    first_user = await UserRepository(session).count_people() == 0
    if not first_user and not ctx.settings.allow_registration:
        audit.record_failure(
            session, "auth.register", actor_name=body.username, outcome=audit.DENIED
        )
        raise RegistrationClosed()
    role = Role.admin if first_user else Role(ctx.settings.registration_default_role)
    user = await _insert_user(
        session,
        User(
            username=body.username,
            email=str(body.email),
            full_name=body.full_name,
            hashed_password=await hash_password(body.password),
            role=role,
            is_superuser=first_user,
        ),
    )
    audit.record(
        session,
        "auth.register",
        actor_id=user.id,
        actor_name=user.username,
        resource_type="user",
        resource_id=user.id,
        details={"role": role.value, "first_user": first_user},
    )
    return UserRead.model_validate(user)


async def create_user(
    session: AsyncSession, actor: Principal | None, body: AdminUserCreate
) -> UserRead:
    """An administrator (or the CLI, with no actor) creates an account with a chosen role."""
    user = await _insert_user(
        session,
        User(
            username=body.username,
            email=str(body.email),
            full_name=body.full_name,
            hashed_password=await hash_password(body.password),
            role=body.role,
            is_superuser=body.role is Role.admin,
        ),
    )
    audit.record(
        session,
        "user.create",
        actor=actor,
        actor_name=None if actor else "cli",
        resource_type="user",
        resource_id=user.id,
        details={"username": user.username, "role": body.role.value},
    )
    return UserRead.model_validate(user)


async def list_users(session: AsyncSession, *, limit: int, offset: int) -> UserPage:
    rows, total = await UserRepository(session).page(limit=limit, offset=offset)
    return UserPage(
        items=[UserRead.model_validate(u) for u in rows], total=total, limit=limit, offset=offset
    )


async def get_user(session: AsyncSession, user_id: int) -> UserRead:
    user = await UserRepository(session).get(user_id)
    if user is None:
        raise UserNotFound()
    return UserRead.model_validate(user)


async def update_user(
    session: AsyncSession, actor: Principal, user_id: int, body: AdminUserUpdate
) -> UserRead:
    user = await UserRepository(session).get(user_id)
    if user is None:
        raise UserNotFound()
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    if user.id == actor.user_id and (
        changes.get("role", Role.admin) is not Role.admin or changes.get("is_active") is False
    ):
        raise CannotChangeSelf()
    for field, value in changes.items():
        setattr(user, field, value)
    if "role" in changes:
        user.is_superuser = changes["role"] is Role.admin
    if changes.get("is_active") is False:
        await SessionRepository(session).revoke_all_for_user(user.id, utcnow(), "disabled")
    await session.flush()
    audit.record(
        session,
        "user.update",
        actor=actor,
        resource_type="user",
        resource_id=user.id,
        details={k: str(v) for k, v in changes.items()},
    )
    return UserRead.model_validate(user)


async def get_me(session: AsyncSession, principal: Principal) -> UserRead:
    return await get_user(session, principal.user_id)


async def update_me(session: AsyncSession, principal: Principal, body: UserUpdate) -> UserRead:
    user = await UserRepository(session).get(principal.user_id)
    if user is None:
        raise UserNotFound()
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    if "email" in changes:
        changes["email"] = str(changes["email"])
        if await UserRepository(session).email_taken(changes["email"], other_than=user.id):
            raise UserExists("That e-mail is already registered.", details={"field": "email"})
    for field, value in changes.items():
        setattr(user, field, value)
    await session.flush()
    audit.record(
        session,
        "user.update_profile",
        actor=principal,
        resource_type="user",
        resource_id=user.id,
        details={"fields": sorted(changes)},
    )
    return UserRead.model_validate(user)


# --- sessions and tokens ---------------------------------------------------------------------


def _issue_refresh_token(session: AsyncSession, auth_session: AuthSession, now: datetime) -> str:
    token = f"{auth_session.id}.{new_token()}"
    session.add(
        RefreshToken(
            session_id=auth_session.id,
            token_hash=token_digest(token),
            created_at=now,
            expires_at=auth_session.expires_at,
        )
    )
    return token


def _token_pair(ctx: AuthContext, user: User, auth_session: AuthSession, refresh: str) -> TokenPair:
    minutes = ctx.settings.access_token_minutes
    access, _ = encode_access_token(
        ctx.keys.jwt_secret,
        subject=str(user.id),
        session_id=auth_session.id,
        minutes=minutes,
        extra={"role": user.role},
    )
    return TokenPair(
        access_token=access,
        refresh_token=refresh,
        expires_in=minutes * 60,
        refresh_expires_in=int((auth_session.expires_at - utcnow()).total_seconds()),
    )


async def _check_second_factor(
    session: AsyncSession, ctx: AuthContext, user: User, body: LoginRequest
) -> str:
    """Returns which factor was used; raises when none or a wrong one was given."""
    if body.totp_code:
        secret = ctx.keys.box.decrypt(user.totp_secret or "", context=f"users:{user.id}:totp")
        step = totp.matching_step(secret, body.totp_code, after_step=user.totp_last_step)
        if step is not None:
            user.totp_last_step = step
            return "totp"
    elif body.recovery_code:
        digest = ctx.keys.code_digest(totp.normalize_recovery_code(body.recovery_code))
        if await RecoveryCodeRepository(session).spend(user.id, digest, utcnow()):
            return "recovery_code"
    else:
        raise MfaRequired(details={"mfa_required": True})
    audit.record_failure(
        session,
        "auth.login",
        actor_id=user.id,
        actor_name=user.username,
        details={"reason": "wrong_mfa_code"},
    )
    raise InvalidMfaCode()


async def login(
    session: AsyncSession, ctx: AuthContext, body: LoginRequest, *, user_agent: str | None
) -> TokenPair:
    user = await UserRepository(session).by_username(body.username)
    if (
        not await verify_password(body.password, user.hashed_password if user else None)
        or user is None
    ):
        audit.record_failure(
            session,
            "auth.login",
            actor_id=user.id if user else None,
            actor_name=body.username[:50],
            details={"reason": "wrong_password" if user else "unknown_user"},
        )
        raise InvalidCredentials()
    if not user.is_active:
        audit.record_failure(
            session,
            "auth.login",
            actor_id=user.id,
            actor_name=user.username,
            outcome=audit.DENIED,
            details={"reason": "disabled"},
        )
        raise AccountDisabled()
    factor = await _check_second_factor(session, ctx, user, body) if user.mfa_enabled else None

    now = utcnow()
    if password_needs_rehash(user.hashed_password):
        user.hashed_password = await hash_password(body.password)
    user.last_login = now
    auth_session = AuthSession(
        id=secrets.token_hex(16),
        user_id=user.id,
        created_at=now,
        last_used_at=now,
        expires_at=now + timedelta(days=ctx.settings.refresh_token_days),
        client_address=current_client_address(),
        user_agent=(user_agent or "")[:300] or None,
    )
    SessionRepository(session).add(auth_session)
    refresh = _issue_refresh_token(session, auth_session, now)
    audit.record(
        session,
        "auth.login",
        actor_id=user.id,
        actor_name=user.username,
        resource_type="session",
        resource_id=auth_session.id,
        details={"second_factor": factor} if factor else {},
    )
    await session.flush()
    return _token_pair(ctx, user, auth_session, refresh)


async def refresh(session: AsyncSession, ctx: AuthContext, refresh_token: str) -> TokenPair:
    """Rotate: the presented token is spent and a new one issued. A spent token presented again
    means it was copied, so the whole session ends."""
    repo = SessionRepository(session)
    stored = await repo.refresh_token(token_digest(refresh_token))
    if stored is None:
        raise InvalidToken("The refresh token is not valid.")
    found = await repo.get_with_user(stored.session_id)
    if found is None:
        raise InvalidToken("The refresh token is not valid.")
    auth_session, user = found
    now = utcnow()
    if stored.used_at is not None or not await repo.spend_refresh_token(stored.id, now):
        session_id = auth_session.id

        async def end_session(fresh: AsyncSession) -> None:
            await SessionRepository(fresh).revoke(session_id, now, "refresh_token_reuse")

        # The request fails with 401, so its transaction rolls back; the revocation must not.
        on_rollback(session, end_session)
        audit.record_failure(
            session,
            "auth.refresh",
            actor_id=user.id,
            actor_name=user.username,
            outcome=audit.DENIED,
            resource_type="session",
            resource_id=auth_session.id,
            details={"reason": "refresh_token_reuse"},
        )
        raise RefreshTokenReused()
    if auth_session.revoked_at is not None:
        raise SessionRevoked()
    if stored.expires_at <= now or auth_session.expires_at <= now:
        raise TokenExpired("The refresh token has expired; log in again.")
    if not user.is_active:
        raise AccountDisabled()
    auth_session.last_used_at = now
    auth_session.expires_at = now + timedelta(days=ctx.settings.refresh_token_days)
    new_refresh = _issue_refresh_token(session, auth_session, now)
    audit.record(
        session,
        "auth.refresh",
        actor_id=user.id,
        actor_name=user.username,
        resource_type="session",
        resource_id=auth_session.id,
    )
    await session.flush()
    return _token_pair(ctx, user, auth_session, new_refresh)


async def logout(session: AsyncSession, principal: Principal) -> None:
    if principal.session_id is not None:
        await SessionRepository(session).revoke(principal.session_id, utcnow(), "logout")
    audit.record(
        session,
        "auth.logout",
        actor=principal,
        resource_type="session",
        resource_id=principal.session_id,
    )


async def change_password(
    session: AsyncSession, ctx: AuthContext, principal: Principal, body: ChangePasswordRequest
) -> None:
    """Changes the password and ends every other session of the user."""
    user = await UserRepository(session).get(principal.user_id)
    if user is None:
        raise UserNotFound()
    if not await verify_password(body.current_password, user.hashed_password):
        audit.record_failure(
            session,
            "auth.change_password",
            actor_id=user.id,
            actor_name=user.username,
            details={"reason": "wrong_current_password"},
        )
        raise InvalidCredentials("The current password is wrong.")
    problem = password_problem(body.new_password, user.username)
    if problem:
        raise WeakPassword.field("new_password", f"Password {problem}.")
    if await verify_password(body.new_password, user.hashed_password):
        raise WeakPassword.field("new_password", "The new password must differ from the old one.")
    user.hashed_password = await hash_password(body.new_password)
    await SessionRepository(session).revoke_all_for_user(
        user.id, utcnow(), "password_changed", keep=principal.session_id
    )
    audit.record(
        session, "auth.change_password", actor=principal, resource_type="user", resource_id=user.id
    )

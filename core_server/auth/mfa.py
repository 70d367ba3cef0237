"""Two-factor authentication: TOTP enrolment, recovery codes and switching it off."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from core_server.audit import service as audit
from core_server.auth import totp
from core_server.auth.errors import (
    InvalidMfaCode,
    MfaAlreadyEnabled,
    MfaNotEnabled,
    MfaNotPending,
    UserNotFound,
)
from core_server.auth.models import User
from core_server.auth.principal import Principal
from core_server.auth.repository import RecoveryCodeRepository, UserRepository
from core_server.auth.schemas import MfaSetup, MfaStatus, RecoveryCodes
from core_server.auth.service import AuthContext
from core_server.core.database import utcnow


def _context(user: User) -> str:
    return f"users:{user.id}:totp"


async def _user(session: AsyncSession, principal: Principal) -> User:
    user = await UserRepository(session).get(principal.user_id)
    if user is None:
        raise UserNotFound()
    return user


async def status(session: AsyncSession, principal: Principal) -> MfaStatus:
    user = await _user(session, principal)
    left = await RecoveryCodeRepository(session).left(user.id) if user.mfa_enabled else 0
    return MfaStatus(
        enabled=user.mfa_enabled,
        pending=user.totp_pending_secret is not None,
        recovery_codes_left=left,
    )


async def setup(session: AsyncSession, ctx: AuthContext, principal: Principal) -> MfaSetup:
    """Starts enrolment with a fresh secret; it takes effect once a code from it is confirmed."""
    user = await _user(session, principal)
    if user.mfa_enabled:
        raise MfaAlreadyEnabled()
    secret = totp.new_secret()
    user.totp_pending_secret = ctx.keys.box.encrypt(secret, context=_context(user))
    uri = totp.provisioning_uri(secret, user.username)
    audit.record(
        session, "auth.mfa.setup", actor=principal, resource_type="user", resource_id=user.id
    )
    return MfaSetup(secret=secret, otpauth_uri=uri, qr_svg=totp.qr_svg_data_uri(uri))


async def _new_recovery_codes(session: AsyncSession, ctx: AuthContext, user: User) -> list[str]:
    codes = totp.new_recovery_codes()
    await RecoveryCodeRepository(session).replace(
        user.id, [ctx.keys.code_digest(code) for code in codes]
    )
    return codes


async def enable(
    session: AsyncSession, ctx: AuthContext, principal: Principal, code: str
) -> RecoveryCodes:
    user = await _user(session, principal)
    if user.mfa_enabled:
        raise MfaAlreadyEnabled()
    if user.totp_pending_secret is None:
        raise MfaNotPending()
    secret = ctx.keys.box.decrypt(user.totp_pending_secret, context=_context(user))
    step = totp.matching_step(secret, code, after_step=None)
    if step is None:
        raise InvalidMfaCode("The code does not match; check the authenticator's clock.")
    user.totp_secret = user.totp_pending_secret
    user.totp_pending_secret = None
    user.totp_last_step = step
    user.mfa_enabled = True
    codes = await _new_recovery_codes(session, ctx, user)
    audit.record(
        session, "auth.mfa.enable", actor=principal, resource_type="user", resource_id=user.id
    )
    return RecoveryCodes(recovery_codes=codes)


async def _check_code(session: AsyncSession, ctx: AuthContext, user: User, code: str) -> None:
    """A current TOTP code or an unused recovery code; raises otherwise."""
    secret = ctx.keys.box.decrypt(user.totp_secret or "", context=_context(user))
    step = totp.matching_step(secret, code, after_step=user.totp_last_step)
    if step is not None:
        user.totp_last_step = step
        return
    digest = ctx.keys.code_digest(totp.normalize_recovery_code(code))
    if not await RecoveryCodeRepository(session).spend(user.id, digest, utcnow()):
        audit.record_failure(
            session,
            "auth.mfa.verify",
            actor_id=user.id,
            actor_name=user.username,
            details={"reason": "wrong_code"},
        )
        raise InvalidMfaCode()


async def disable(session: AsyncSession, ctx: AuthContext, principal: Principal, code: str) -> None:
    user = await _user(session, principal)
    if not user.mfa_enabled:
        raise MfaNotEnabled()
    await _check_code(session, ctx, user, code)
    user.mfa_enabled = False
    user.totp_secret = None
    user.totp_last_step = None
    await RecoveryCodeRepository(session).clear(user.id)
    audit.record(
        session, "auth.mfa.disable", actor=principal, resource_type="user", resource_id=user.id
    )


async def regenerate_recovery_codes(
    session: AsyncSession, ctx: AuthContext, principal: Principal, code: str
) -> RecoveryCodes:
    user = await _user(session, principal)
    if not user.mfa_enabled:
        raise MfaNotEnabled()
    await _check_code(session, ctx, user, code)
    codes = await _new_recovery_codes(session, ctx, user)
    audit.record(
        session,
        "auth.mfa.recovery_codes",
        actor=principal,
        resource_type="user",
        resource_id=user.id,
    )
    return RecoveryCodes(recovery_codes=codes)

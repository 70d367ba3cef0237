from __future__ import annotations

from core_server.core.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized


class InvalidCredentials(Unauthorized):
    code = "INVALID_CREDENTIALS"
    default_message = "Wrong username or password."


class MfaRequired(Unauthorized):
    code = "MFA_REQUIRED"
    default_message = "This account has two-factor authentication: send totp_code or recovery_code."


class InvalidMfaCode(Unauthorized):
    code = "INVALID_MFA_CODE"
    default_message = "The two-factor code is wrong or was already used."


class InvalidToken(Unauthorized):
    code = "INVALID_TOKEN"
    default_message = "The token is not valid."


class TokenExpired(Unauthorized):
    code = "TOKEN_EXPIRED"
    default_message = "The token has expired; refresh it or log in again."


class SessionRevoked(Unauthorized):
    code = "SESSION_REVOKED"
    default_message = "This session has ended; log in again."


class RefreshTokenReused(Unauthorized):
    code = "REFRESH_TOKEN_REUSED"
    default_message = (
        "This refresh token was already used; the session has been ended for safety. Log in again."
    )


class AccountDisabled(Forbidden):
    code = "ACCOUNT_DISABLED"
    default_message = "This account is disabled."


class InsufficientRole(Forbidden):
    code = "INSUFFICIENT_ROLE"
    default_message = "Your role does not allow this."


class RegistrationClosed(Forbidden):
    code = "REGISTRATION_CLOSED"
    default_message = "Registration is closed; ask an administrator for an account."


class UserExists(Conflict):
    code = "USER_EXISTS"
    default_message = "That username or e-mail is already registered."


class UserNotFound(NotFound):
    code = "USER_NOT_FOUND"
    default_message = "No such user."


class ApiKeyNotFound(NotFound):
    code = "API_KEY_NOT_FOUND"
    default_message = "No such API key."


class MfaAlreadyEnabled(Conflict):
    code = "MFA_ALREADY_ENABLED"
    default_message = "Two-factor authentication is already enabled."


class MfaNotEnabled(Conflict):
    code = "MFA_NOT_ENABLED"
    default_message = "Two-factor authentication is not enabled."


class MfaNotPending(Conflict):
    code = "MFA_NOT_PENDING"
    default_message = "Start the set-up first (POST /auth/mfa/setup)."


class WeakPassword(InvalidInput):
    code = "WEAK_PASSWORD"


class CannotChangeSelf(Conflict):
    code = "CANNOT_CHANGE_SELF"
    default_message = "You cannot demote or disable yourself; ask another administrator."

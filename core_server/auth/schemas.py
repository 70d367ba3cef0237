"""API shapes for accounts, tokens, MFA and API keys. Inputs refuse unknown fields, so no
request can set a role, an owner or a superuser flag it was not meant to."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from core_server.auth.models import SYSTEM_USERNAMES, ApiKeyScope, Role

PASSWORD_MIN_LENGTH = 10
PASSWORD_MAX_LENGTH = 128
# The most common choices that still pass the length and character rules.
COMMON_PASSWORDS = frozenset(
    {
        "password12",
        "password123",
        "password1234",
        "qwerty12345",
        "qwertyuiop1",
        "1234567890a",
        "abc1234567",
        "iloveyou123",
        "letmein1234",
        "welcome1234",
        "admin12345",
        "changeme123",
    }
)
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")


def password_problem(password: str, username: str | None = None) -> str | None:
    """Why a password is too weak, or None when it is acceptable."""
    if len(password) < PASSWORD_MIN_LENGTH:
        return f"must be at least {PASSWORD_MIN_LENGTH} characters long"
    if len(password) > PASSWORD_MAX_LENGTH:
        return f"must be at most {PASSWORD_MAX_LENGTH} characters long"
    if _CONTROL_CHARS.search(password):
        return "must not contain control characters"
    if not re.search(r"[A-Za-z]", password) or not re.search(r"[^A-Za-z]", password):
        return "must mix letters with digits or symbols"
    if len(set(password)) < 5:
        return "must not repeat the same few characters"
    if password.lower() in COMMON_PASSWORDS:
        return "is too common"
    if username and username.lower() in password.lower():
        return "must not contain the username"
    return None


def _check_password(password: str) -> str:
    problem = password_problem(password)
    if problem:
        raise ValueError(f"Password {problem}.")
    return password


def _no_control_chars(value: str) -> str:
    if _CONTROL_CHARS.search(value):
        raise ValueError("must not contain control characters")
    return value


def _not_reserved(username: str) -> str:
    if username in SYSTEM_USERNAMES:
        raise ValueError(f"'{username}' is reserved")
    return username


Username = Annotated[
    str,
    # Names are case-insensitive: "Alice" logs in as, and cannot coexist with, "alice".
    StringConstraints(
        strip_whitespace=True,
        to_lower=True,
        min_length=3,
        max_length=50,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
    ),
    AfterValidator(_not_reserved),
]
NewPassword = Annotated[
    str,
    Field(min_length=1, max_length=PASSWORD_MAX_LENGTH),
    AfterValidator(_check_password),
]
# Login accepts any stored password; only its size is bounded so hashing stays cheap.
AnyPassword = Annotated[str, Field(min_length=1, max_length=PASSWORD_MAX_LENGTH)]
FullName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
    AfterValidator(_no_control_chars),
]
Email = Annotated[EmailStr, Field(max_length=100)]
OtpCode = Annotated[str, StringConstraints(strip_whitespace=True, min_length=6, max_length=32)]


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=10_000)


class RegisterRequest(Input):
    username: Username
    email: Email
    password: NewPassword
    full_name: FullName | None = None

    @field_validator("password")
    @classmethod
    def _password_not_username(cls, password: str, info: ValidationInfo) -> str:
        username = info.data.get("username")
        if username and username in password.lower():
            raise ValueError("Password must not contain the username.")
        return password


class LoginRequest(Input):
    username: Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, max_length=50)]
    password: AnyPassword
    totp_code: OtpCode | None = Field(None, description="Required when MFA is enabled.")
    recovery_code: OtpCode | None = Field(None, description="Instead of totp_code, once each.")


class RefreshRequest(Input):
    refresh_token: Annotated[str, Field(min_length=1, max_length=200)]


class LogoutRequest(Input):
    refresh_token: Annotated[str, Field(max_length=200)] | None = None


class ChangePasswordRequest(Input):
    current_password: AnyPassword
    new_password: NewPassword


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int = Field(description="Seconds until the access token expires.")
    refresh_expires_in: int


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    email: str
    full_name: str | None
    role: Role
    is_active: bool
    is_superuser: bool
    mfa_enabled: bool
    last_login: datetime | None
    created_at: datetime


class UserUpdate(Input):
    email: Email | None = None
    full_name: FullName | None = None


class AdminUserCreate(Input):
    username: Username
    email: Email
    password: NewPassword
    full_name: FullName | None = None
    role: Role = Role.trader


class AdminUserUpdate(Input):
    role: Role | None = None
    is_active: bool | None = None
    full_name: FullName | None = None


class UserPage(BaseModel):
    items: list[UserRead]
    total: int
    limit: int
    offset: int


class MfaSetup(BaseModel):
    secret: str = Field(description="The TOTP secret, for typing into an authenticator by hand.")
    otpauth_uri: str
    qr_svg: str = Field(description="The otpauth URI as a QR code, an SVG data URI.")


class MfaCode(Input):
    code: OtpCode


class MfaStatus(BaseModel):
    enabled: bool
    pending: bool
    recovery_codes_left: int


class RecoveryCodes(BaseModel):
    recovery_codes: list[str] = Field(description="Shown once; each works once.")


class ApiKeyCreate(Input):
    name: FullName
    scope: ApiKeyScope = ApiKeyScope.read
    expires_in_days: int | None = Field(None, ge=1, le=3650)


class ApiKeyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    prefix: str
    scope: ApiKeyScope
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyRead):
    key: str = Field(description="The key itself. It is shown only this once.")

"""HTTP routes for accounts, tokens, two-factor authentication, API keys and users."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from core_server.auth import api_keys, mfa, service
from core_server.auth.dependencies import Admin, AuthContextDep, CurrentPrincipal
from core_server.auth.errors import (
    AccountDisabled,
    ApiKeyNotFound,
    CannotChangeSelf,
    InsufficientRole,
    InvalidCredentials,
    InvalidMfaCode,
    MfaAlreadyEnabled,
    MfaNotEnabled,
    MfaRequired,
    RefreshTokenReused,
    RegistrationClosed,
    UserExists,
    UserNotFound,
    WeakPassword,
)
from core_server.auth.schemas import (
    AdminUserCreate,
    AdminUserUpdate,
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyRead,
    ChangePasswordRequest,
    LoginRequest,
    MfaCode,
    MfaSetup,
    MfaStatus,
    RecoveryCodes,
    RefreshRequest,
    RegisterRequest,
    TokenPair,
    UserPage,
    UserRead,
    UserUpdate,
)
from core_server.core.deps import PageLimit, PageOffset, ResourceId, SessionDep
from core_server.core.envelope import Envelope, ok
from core_server.core.errors import InvalidInput, Unauthorized, error_responses

router = APIRouter(prefix="/auth", tags=["auth"])
users_router = APIRouter(prefix="/users", tags=["auth"])

_LOGIN_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": LoginRequest.model_json_schema()},
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["username", "password"],
                    "properties": {
                        "username": {"type": "string"},
                        "password": {"type": "string", "format": "password"},
                    },
                }
            },
        },
    }
}
_OAUTH_FORM_FIELDS = frozenset({"grant_type", "scope", "client_id", "client_secret"})


async def _read_login(request: Request) -> tuple[LoginRequest, bool]:
    """The login body as JSON, or as the OAuth2 password form Swagger's Authorize sends."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.form()
            fields = {k: v for k, v in form.items() if k not in _OAUTH_FORM_FIELDS}
            return LoginRequest.model_validate(fields), True
        return LoginRequest.model_validate_json(await request.body()), False
    except ValidationError as exc:
        raise RequestValidationError(
            [{**error, "loc": ("body", *error["loc"])} for error in exc.errors()]
        ) from exc


@router.post(
    "/register",
    status_code=201,
    response_model=Envelope[UserRead],
    responses=error_responses(RegistrationClosed, UserExists, InvalidInput),
)
async def register(
    body: RegisterRequest, session: SessionDep, ctx: AuthContextDep
) -> Envelope[UserRead]:
    """Create an account: open to the first user (who becomes admin) or with ALLOW_REGISTRATION."""
    return ok(await service.register(session, ctx, body), "Account created.")


@router.post(
    "/login",
    response_model=Envelope[TokenPair],
    openapi_extra=_LOGIN_BODY,
    responses=error_responses(InvalidCredentials, MfaRequired, AccountDisabled, InvalidInput),
)
async def login(request: Request, session: SessionDep, ctx: AuthContextDep) -> Any:
    """Log in with a JSON body or the OAuth2 password form; answers an access and refresh token."""
    body, is_form = await _read_login(request)
    tokens = await service.login(session, ctx, body, user_agent=request.headers.get("user-agent"))
    envelope = ok(tokens, "Logged in.").model_dump(mode="json")
    if is_form:
        # OAuth2 clients (Swagger's Authorize among them) read the token from the top level.
        envelope |= {"access_token": tokens.access_token, "token_type": tokens.token_type}
    return JSONResponse(envelope)


@router.post(
    "/refresh",
    response_model=Envelope[TokenPair],
    responses=error_responses(Unauthorized, RefreshTokenReused),
)
async def refresh(
    body: RefreshRequest, session: SessionDep, ctx: AuthContextDep
) -> Envelope[TokenPair]:
    """Exchange a refresh token for a new pair; each refresh token works once."""
    return ok(await service.refresh(session, ctx, body.refresh_token), "Tokens refreshed.")


@router.post("/logout", response_model=Envelope[None], responses=error_responses(Unauthorized))
async def logout(principal: CurrentPrincipal, session: SessionDep) -> Envelope[None]:
    """End the current session: its access and refresh tokens stop working."""
    await service.logout(session, principal)
    return ok(None, "Logged out.")


@router.get("/me", response_model=Envelope[UserRead], responses=error_responses(Unauthorized))
async def me(principal: CurrentPrincipal, session: SessionDep) -> Envelope[UserRead]:
    """The signed-in user."""
    return ok(await service.get_me(session, principal))


@router.patch(
    "/me", response_model=Envelope[UserRead], responses=error_responses(Unauthorized, UserExists)
)
async def update_me(
    body: UserUpdate, principal: CurrentPrincipal, session: SessionDep
) -> Envelope[UserRead]:
    """Change your own e-mail or full name."""
    return ok(await service.update_me(session, principal, body), "Profile updated.")


@router.post(
    "/change-password",
    response_model=Envelope[None],
    responses=error_responses(InvalidCredentials, WeakPassword),
)
async def change_password(
    body: ChangePasswordRequest,
    principal: CurrentPrincipal,
    session: SessionDep,
    ctx: AuthContextDep,
) -> Envelope[None]:
    """Change your password; every other session of yours is ended."""
    await service.change_password(session, ctx, principal, body)
    return ok(None, "Password changed; other sessions were ended.")


@router.get("/mfa", response_model=Envelope[MfaStatus], responses=error_responses(Unauthorized))
async def mfa_status(principal: CurrentPrincipal, session: SessionDep) -> Envelope[MfaStatus]:
    """Whether two-factor authentication is on, and how many recovery codes are left."""
    return ok(await mfa.status(session, principal))


@router.post(
    "/mfa/setup",
    response_model=Envelope[MfaSetup],
    responses=error_responses(Unauthorized, MfaAlreadyEnabled),
)
async def mfa_setup(
    principal: CurrentPrincipal, session: SessionDep, ctx: AuthContextDep
) -> Envelope[MfaSetup]:
    """Start TOTP enrolment: a secret, its otpauth URI and a QR code to scan."""
    return ok(await mfa.setup(session, ctx, principal), "Scan the code, then confirm a code.")


@router.post(
    "/mfa/enable",
    response_model=Envelope[RecoveryCodes],
    responses=error_responses(InvalidMfaCode, MfaAlreadyEnabled),
)
async def mfa_enable(
    body: MfaCode, principal: CurrentPrincipal, session: SessionDep, ctx: AuthContextDep
) -> Envelope[RecoveryCodes]:
    """Confirm enrolment with a current code; answers one-time recovery codes, shown once."""
    return ok(await mfa.enable(session, ctx, principal, body.code), "Two-factor enabled.")


@router.post(
    "/mfa/disable",
    response_model=Envelope[None],
    responses=error_responses(InvalidMfaCode, MfaNotEnabled),
)
async def mfa_disable(
    body: MfaCode, principal: CurrentPrincipal, session: SessionDep, ctx: AuthContextDep
) -> Envelope[None]:
    """Turn two-factor off; needs a current code or a recovery code."""
    await mfa.disable(session, ctx, principal, body.code)
    return ok(None, "Two-factor disabled.")


@router.post(
    "/mfa/recovery-codes",
    response_model=Envelope[RecoveryCodes],
    responses=error_responses(InvalidMfaCode, MfaNotEnabled),
)
async def mfa_recovery_codes(
    body: MfaCode, principal: CurrentPrincipal, session: SessionDep, ctx: AuthContextDep
) -> Envelope[RecoveryCodes]:
    """Replace all recovery codes with new ones; needs a current code or a recovery code."""
    return ok(await mfa.regenerate_recovery_codes(session, ctx, principal, body.code))


@router.post(
    "/api-keys",
    status_code=201,
    response_model=Envelope[ApiKeyCreated],
    responses=error_responses(Unauthorized, InsufficientRole),
)
async def create_api_key(
    body: ApiKeyCreate, principal: CurrentPrincipal, session: SessionDep
) -> Envelope[ApiKeyCreated]:
    """Create an API key (scope read, trade or admin, up to your role). The key is shown once."""
    return ok(
        await api_keys.create(session, principal, body), "Store the key now; it is shown once."
    )


@router.get(
    "/api-keys", response_model=Envelope[list[ApiKeyRead]], responses=error_responses(Unauthorized)
)
async def list_api_keys(
    principal: CurrentPrincipal, session: SessionDep
) -> Envelope[list[ApiKeyRead]]:
    """Your API keys, without the keys themselves."""
    return ok(await api_keys.list_keys(session, principal))


@router.get(
    "/api-keys/{key_id}",
    response_model=Envelope[ApiKeyRead],
    responses=error_responses(Unauthorized, ApiKeyNotFound),
)
async def get_api_key(
    key_id: ResourceId, principal: CurrentPrincipal, session: SessionDep
) -> Envelope[ApiKeyRead]:
    """One of your API keys."""
    return ok(await api_keys.get_key(session, principal, key_id))


@router.delete(
    "/api-keys/{key_id}",
    response_model=Envelope[ApiKeyRead],
    responses=error_responses(Unauthorized, ApiKeyNotFound),
)
async def revoke_api_key(
    key_id: ResourceId, principal: CurrentPrincipal, session: SessionDep
) -> Envelope[ApiKeyRead]:
    """Revoke an API key; it stops working at once."""
    return ok(await api_keys.revoke(session, principal, key_id), "API key revoked.")


@users_router.get(
    "", response_model=Envelope[UserPage], responses=error_responses(InsufficientRole)
)
async def list_users(
    _: Admin,
    session: SessionDep,
    limit: PageLimit = 50,
    offset: PageOffset = 0,
) -> Envelope[UserPage]:
    """All users (admin)."""
    return ok(await service.list_users(session, limit=limit, offset=offset))


@users_router.post(
    "",
    status_code=201,
    response_model=Envelope[UserRead],
    responses=error_responses(InsufficientRole, UserExists),
)
async def create_user(
    body: AdminUserCreate, actor: Admin, session: SessionDep
) -> Envelope[UserRead]:
    """Create a user with a role (admin)."""
    return ok(await service.create_user(session, actor, body), "User created.")


@users_router.get(
    "/{user_id}",
    response_model=Envelope[UserRead],
    responses=error_responses(InsufficientRole, UserNotFound),
)
async def get_user(user_id: ResourceId, _: Admin, session: SessionDep) -> Envelope[UserRead]:
    """One user (admin)."""
    return ok(await service.get_user(session, user_id))


@users_router.patch(
    "/{user_id}",
    response_model=Envelope[UserRead],
    responses=error_responses(InsufficientRole, UserNotFound, CannotChangeSelf),
)
async def update_user(
    user_id: ResourceId, body: AdminUserUpdate, actor: Admin, session: SessionDep
) -> Envelope[UserRead]:
    """Change a user's role, name or whether the account is active (admin)."""
    return ok(await service.update_user(session, actor, user_id, body), "User updated.")

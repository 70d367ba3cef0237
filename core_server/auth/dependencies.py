"""Who is calling: the dependencies every protected route declares."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, OAuth2PasswordBearer

from core_server.auth.authenticate import authenticate
from core_server.auth.errors import InsufficientRole
from core_server.auth.models import Role
from core_server.auth.principal import Principal
from core_server.auth.service import AuthContext
from core_server.core.deps import SessionDep
from core_server.core.errors import Unauthorized
from core_server.core.security import Keys

# Two schemes for the same header: the OAuth2 one gives Swagger's "Authorize" a login form,
# the plain bearer one lets a user paste an API key.
oauth2_scheme = OAuth2PasswordBearer(
    tokenUrl="/api/v1/auth/login", auto_error=False, scheme_name="OAuth2Password"
)
bearer_scheme = HTTPBearer(auto_error=False, scheme_name="BearerToken")


def get_keys(request: Request) -> Keys:
    keys: Keys = request.app.state.keys
    return keys


def get_auth_context(request: Request) -> AuthContext:
    return AuthContext(settings=request.app.state.settings, keys=request.app.state.keys)


KeysDep = Annotated[Keys, Depends(get_keys)]
AuthContextDep = Annotated[AuthContext, Depends(get_auth_context)]


async def current_principal(
    session: SessionDep,
    keys: KeysDep,
    oauth_token: Annotated[str | None, Depends(oauth2_scheme)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Principal:
    token = oauth_token or (bearer.credentials if bearer else None)
    if not token:
        raise Unauthorized("Authentication is required: send 'Authorization: Bearer <token>'.")
    return await authenticate(session, keys, token)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_role(role: Role) -> Callable[[Principal], Awaitable[Principal]]:
    async def dependency(principal: CurrentPrincipal) -> Principal:
        if not principal.has_role(role):
            raise InsufficientRole(
                f"This needs the {role.value} role; you act as {principal.role.value}.",
                details={"required_role": role.value, "role": principal.role.value},
            )
        return principal

    return dependency


Trader = Annotated[Principal, Depends(require_role(Role.trader))]
Admin = Annotated[Principal, Depends(require_role(Role.admin))]

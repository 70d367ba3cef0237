"""Turning a bearer credential (an access JWT or an API key) into a Principal."""

from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from core_server.auth.errors import AccountDisabled, InvalidToken, SessionRevoked, TokenExpired
from core_server.auth.models import ROLE_RANK, SCOPE_ROLE, ApiKeyScope, Role
from core_server.auth.principal import Principal
from core_server.auth.repository import ApiKeyRepository, SessionRepository
from core_server.core.database import Database, utcnow
from core_server.core.ratelimit import ClientIdentity
from core_server.core.security import (
    Keys,
    TokenError,
    decode_access_token,
    digests_match,
    token_digest,
)

API_KEY_PREFIX = "mbk_"
# last_used_at is a hint for the user, not a log: write it at most this often per key.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def split_api_key(key: str) -> tuple[str, str] | None:
    """`mbk_<prefix>_<secret>` -> (prefix, key); None when it is not shaped like one of ours."""
    if not key.startswith(API_KEY_PREFIX):
        return None
    prefix, sep, secret = key.removeprefix(API_KEY_PREFIX).partition("_")
    if not sep or len(prefix) != 12 or not secret:
        return None
    return prefix, key


async def principal_from_api_key(session: AsyncSession, key: str) -> Principal:
    parts = split_api_key(key)
    found = await ApiKeyRepository(session).by_prefix_with_owner(parts[0]) if parts else None
    if found is None or not digests_match(found[0].key_hash, token_digest(key)):
        raise InvalidToken("The API key is not valid.")
    api_key, owner = found
    now = utcnow()
    if api_key.revoked_at is not None:
        raise InvalidToken("The API key has been revoked.")
    if api_key.expires_at is not None and api_key.expires_at <= now:
        raise TokenExpired("The API key has expired.")
    if not owner.is_active:
        raise AccountDisabled()
    if api_key.last_used_at is None or now - api_key.last_used_at > LAST_USED_RESOLUTION:
        api_key.last_used_at = now
    owner_role = Role.admin if owner.is_admin else Role(owner.role)
    scope_role = SCOPE_ROLE[ApiKeyScope(api_key.scope)]
    # A key never acts above its owner's current role, whatever scope it was given.
    role = min(owner_role, scope_role, key=ROLE_RANK.__getitem__)
    return Principal(user_id=owner.id, username=owner.username, role=role, api_key_id=api_key.id)


async def principal_from_access_token(session: AsyncSession, keys: Keys, token: str) -> Principal:
    try:
        claims = decode_access_token(keys.jwt_secret, token)
    except TokenError as exc:
        error = TokenExpired if "expired" in str(exc) else InvalidToken
        raise error(str(exc)) from exc
    found = await SessionRepository(session).get_with_user(str(claims["sid"]))
    if found is None or str(found[1].id) != str(claims["sub"]):
        raise InvalidToken()
    auth_session, user = found
    if auth_session.revoked_at is not None or auth_session.expires_at <= utcnow():
        raise SessionRevoked()
    if not user.is_active:
        raise AccountDisabled()
    role = Role.admin if user.is_admin else Role(user.role)
    return Principal(user_id=user.id, username=user.username, role=role, session_id=auth_session.id)


async def authenticate(session: AsyncSession, keys: Keys, token: str) -> Principal:
    if token.startswith(API_KEY_PREFIX):
        return await principal_from_api_key(session, token)
    return await principal_from_access_token(session, keys, token)


class RateLimitIdentity:
    """Tells the rate limiter who is asking without a database hit for JWTs: a valid signature
    is enough to count against the user's budget. API keys are checked against the database and
    the answer cached briefly, so a made-up key counts as anonymous."""

    CACHE_SECONDS = 60.0

    def __init__(self, database: Database, keys: Keys) -> None:
        self.database = database
        self.keys = keys
        self._api_keys: dict[str, tuple[float, str | None]] = {}

    async def __call__(self, request: Request) -> ClientIdentity:
        token = bearer_token(request)
        user_key: str | None = None
        if token and token.startswith(API_KEY_PREFIX):
            user_key = await self._api_key_owner(token)
        elif token:
            try:
                user_key = f"user:{decode_access_token(self.keys.jwt_secret, token)['sub']}"
            except TokenError:
                user_key = None
        if user_key:
            return ClientIdentity(key=user_key, authenticated=True)
        client = request.client.host if request.client else "unknown"
        return ClientIdentity(key=f"ip:{client}", authenticated=False)

    async def _api_key_owner(self, key: str) -> str | None:
        digest = token_digest(key)
        cached = self._api_keys.get(digest)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        owner: str | None = None
        parts = split_api_key(key)
        if parts:
            async with self.database.sessionmaker() as session:
                found = await ApiKeyRepository(session).by_prefix_with_owner(parts[0])
            if found and digests_match(found[0].key_hash, digest) and found[0].revoked_at is None:
                owner = f"user:{found[1].id}"
        if len(self._api_keys) > 10_000:
            self._api_keys.clear()
        self._api_keys[digest] = (time.monotonic() + self.CACHE_SECONDS, owner)
        return owner

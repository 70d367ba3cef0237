"""API keys for machines: created with a scope no higher than the owner's role, stored hashed,
shown once, revocable."""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from core_server.audit import service as audit
from core_server.auth.authenticate import API_KEY_PREFIX
from core_server.auth.errors import ApiKeyNotFound, InsufficientRole
from core_server.auth.models import SCOPE_ROLE, ApiKey
from core_server.auth.principal import Principal
from core_server.auth.repository import ApiKeyRepository
from core_server.auth.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyRead
from core_server.core.database import utcnow
from core_server.core.security import token_digest


async def create(session: AsyncSession, principal: Principal, body: ApiKeyCreate) -> ApiKeyCreated:
    if not principal.has_role(SCOPE_ROLE[body.scope]):
        raise InsufficientRole(
            f"A {body.scope.value} key needs the {SCOPE_ROLE[body.scope].value} role; "
            f"you act as {principal.role.value}.",
            details={"field": "scope"},
        )
    now = utcnow()
    prefix = secrets.token_hex(6)
    key = f"{API_KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    api_key = ApiKey(
        owner_id=principal.user_id,
        name=body.name,
        prefix=prefix,
        key_hash=token_digest(key),
        scope=body.scope,
        created_at=now,
        expires_at=now + timedelta(days=body.expires_in_days) if body.expires_in_days else None,
    )
    ApiKeyRepository(session).add(api_key)
    await session.flush()
    audit.record(
        session,
        "api_key.create",
        actor=principal,
        resource_type="api_key",
        resource_id=api_key.id,
        details={"name": body.name, "scope": body.scope.value, "prefix": prefix},
    )
    return ApiKeyCreated(**ApiKeyRead.model_validate(api_key).model_dump(), key=key)


async def list_keys(session: AsyncSession, principal: Principal) -> list[ApiKeyRead]:
    return [
        ApiKeyRead.model_validate(k) for k in await ApiKeyRepository(session).list_owned(principal)
    ]


async def get_key(session: AsyncSession, principal: Principal, key_id: int) -> ApiKeyRead:
    api_key = await ApiKeyRepository(session).owned(principal, key_id)
    if api_key is None:
        raise ApiKeyNotFound()
    return ApiKeyRead.model_validate(api_key)


async def revoke(session: AsyncSession, principal: Principal, key_id: int) -> ApiKeyRead:
    api_key = await ApiKeyRepository(session).owned(principal, key_id)
    if api_key is None:
        raise ApiKeyNotFound()
    if api_key.revoked_at is None:
        api_key.revoked_at = utcnow()
        audit.record(
            session,
            "api_key.revoke",
            actor=principal,
            resource_type="api_key",
            resource_id=api_key.id,
        )
    await session.flush()
    return ApiKeyRead.model_validate(api_key)

"""API keys for machines: scoped, hashed, shown once, revocable, personal."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from core_server.auth.models import ApiKey, Role
from tests.helpers import UserFactory, assert_error, assert_ok, assert_owner_only

KEYS = "/api/v1/auth/api-keys"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_key_is_shown_once_and_works(
    users: UserFactory, client: httpx.AsyncClient, app: FastAPI
) -> None:
    user = await users.create(Role.trader)
    created = assert_ok(
        await client.post(KEYS, json={"name": "ci deploy", "scope": "trade"}, headers=user.headers),
        201,
    )
    key = created["key"]
    assert key.startswith(f"mbk_{created['prefix']}_")
    listed = assert_ok(await client.get(KEYS, headers=user.headers))
    assert [k["id"] for k in listed] == [created["id"]]
    assert "key" not in listed[0] and "key_hash" not in listed[0]

    me = assert_ok(await client.get("/api/v1/auth/me", headers=bearer(key)))
    assert me["id"] == user.id
    async with app.state.database.transaction() as session:
        stored = (await session.execute(select(ApiKey))).scalar_one()
    assert key not in stored.key_hash and stored.last_used_at is not None


async def test_scope_cannot_exceed_the_owner_role(
    users: UserFactory, client: httpx.AsyncClient
) -> None:
    viewer = await users.create(Role.viewer)
    trader = await users.create(Role.trader)
    admin = await users.create(Role.admin)
    denied = await client.post(KEYS, json={"name": "k", "scope": "trade"}, headers=viewer.headers)
    assert_error(denied, 403, "INSUFFICIENT_ROLE")
    assert_error(
        await client.post(KEYS, json={"name": "k", "scope": "admin"}, headers=trader.headers), 403
    )
    read_key = assert_ok(
        await client.post(KEYS, json={"name": "k", "scope": "read"}, headers=admin.headers), 201
    )["key"]
    # An admin's read key acts as a viewer: admin routes refuse it.
    assert_error(await client.get("/api/v1/users", headers=bearer(read_key)), 403)
    admin_key = assert_ok(
        await client.post(KEYS, json={"name": "k", "scope": "admin"}, headers=admin.headers), 201
    )["key"]
    assert_ok(await client.get("/api/v1/users", headers=bearer(admin_key)))


async def test_a_key_follows_its_owner_being_demoted(
    users: UserFactory, client: httpx.AsyncClient
) -> None:
    admin = await users.create(Role.admin)
    other_admin = await users.create(Role.admin)
    key = assert_ok(
        await client.post(KEYS, json={"name": "k", "scope": "admin"}, headers=admin.headers), 201
    )["key"]
    demote = {"role": "viewer"}
    assert_ok(
        await client.patch(f"/api/v1/users/{admin.id}", json=demote, headers=other_admin.headers)
    )
    assert_error(await client.get("/api/v1/users", headers=bearer(key)), 403)


async def test_revoked_expired_and_made_up_keys_fail(
    users: UserFactory, client: httpx.AsyncClient
) -> None:
    user = await users.create()
    created = assert_ok(await client.post(KEYS, json={"name": "k"}, headers=user.headers), 201)
    revoked = assert_ok(await client.delete(f"{KEYS}/{created['id']}", headers=user.headers))
    assert revoked["revoked_at"] is not None
    error = assert_error(await client.get("/api/v1/auth/me", headers=bearer(created["key"])), 401)
    assert "revoked" in error["message"]
    tampered = created["key"][:-4] + "AAAA"
    assert_error(await client.get("/api/v1/auth/me", headers=bearer(tampered)), 401)
    assert_error(await client.get("/api/v1/auth/me", headers=bearer("mbk_nothing")), 401)


async def test_bad_key_requests(users: UserFactory, client: httpx.AsyncClient) -> None:
    user = await users.create()
    for body in (
        {"name": ""},
        {"name": "k", "scope": "root"},
        {"name": "k", "expires_in_days": 0},
        {"name": "k", "owner_id": 1},
        {"name": "k", "key": "mbk_chosen_by_me"},
    ):
        assert_error(await client.post(KEYS, json=body, headers=user.headers), 422)
    assert assert_ok(await client.get(KEYS, headers=user.headers)) == []


async def test_keys_are_private_to_their_owner(
    users: UserFactory, client: httpx.AsyncClient
) -> None:
    owner = await users.create()
    stranger = await users.create(Role.admin)  # even an admin does not reach another's keys
    created = assert_ok(await client.post(KEYS, json={"name": "k"}, headers=owner.headers), 201)
    path = f"{KEYS}/{created['id']}"
    await assert_owner_only(
        client, "GET", path, owner=owner, stranger=stranger, missing_path=f"{KEYS}/999999"
    )
    await assert_owner_only(
        client, "DELETE", path, owner=owner, stranger=stranger, missing_path=f"{KEYS}/999999"
    )
    assert assert_ok(await client.get(KEYS, headers=stranger.headers)) == []

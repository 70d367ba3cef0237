"""The audit log: every state change and every refused login leaves a row; users see theirs."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from core_server.auth.models import Role
from tests.helpers import UserFactory, assert_error, assert_ok, assert_owner_only

AUDIT = "/api/v1/audit"


async def entries(client: httpx.AsyncClient, headers: dict[str, str], **params: object) -> list:
    return assert_ok(await client.get(AUDIT, params=params, headers=headers))["items"]


async def test_logins_and_changes_are_recorded(
    users: UserFactory, client: httpx.AsyncClient
) -> None:
    user = await users.create()
    bad = await client.post(
        "/api/v1/auth/login",
        json={"username": user.username, "password": "Wrong-Passw0rd"},
        headers={"X-Request-ID": "req-wrong-password-1"},
    )
    assert bad.status_code == 401
    await client.post("/api/v1/auth/api-keys", json={"name": "ci"}, headers=user.headers)

    rows = await entries(client, user.headers)
    actions = [(r["action"], r["outcome"]) for r in rows]
    assert actions == [
        ("api_key.create", "success"),
        ("auth.login", "failure"),
        ("auth.login", "success"),
    ]
    failed = rows[1]
    assert failed["request_id"] == "req-wrong-password-1"
    assert failed["client_address"] == "127.0.0.1"
    assert failed["details"] == {"reason": "wrong_password"}
    assert "Wrong-Passw0rd" not in str(rows)
    assert rows[0]["resource_type"] == "api_key" and rows[0]["actor_name"] == user.username


async def test_unknown_user_login_is_recorded_for_admins(
    users: UserFactory, client: httpx.AsyncClient
) -> None:
    admin = await users.create(Role.admin)
    await client.post("/api/v1/auth/login", json={"username": "ghost", "password": "Whatever-1x"})
    failures = await entries(client, admin.headers, action="auth.login", outcome="failure")
    assert [(r["actor_name"], r["actor_id"]) for r in failures] == [("ghost", None)]


async def test_users_see_only_their_own_and_admins_all(
    users: UserFactory, client: httpx.AsyncClient
) -> None:
    alice = await users.create()
    bob = await users.create()
    admin = await users.create(Role.admin)
    assert {r["actor_id"] for r in await entries(client, alice.headers)} == {alice.id}
    # A user's filter on someone else finds nothing rather than someone else's rows.
    assert await entries(client, alice.headers, actor_id=bob.id) == []
    everyone = {r["actor_id"] for r in await entries(client, admin.headers)}
    assert {alice.id, bob.id, admin.id} <= everyone
    bob_row = (await entries(client, bob.headers))[0]
    await assert_owner_only(
        client,
        "GET",
        f"{AUDIT}/{bob_row['id']}",
        owner=bob,
        stranger=alice,
        missing_path=f"{AUDIT}/99999999",
    )
    assert_ok(await client.get(f"{AUDIT}/{bob_row['id']}", headers=admin.headers))


async def test_filters_and_paging(users: UserFactory, client: httpx.AsyncClient) -> None:
    user = await users.create()
    for name in ("a", "b", "c"):
        await client.post("/api/v1/auth/api-keys", json={"name": name}, headers=user.headers)
    page = assert_ok(
        await client.get(
            AUDIT, params={"action": "api_key.create", "limit": 2}, headers=user.headers
        )
    )
    assert page["total"] == 3 and len(page["items"]) == 2 and page["limit"] == 2
    rest = await entries(client, user.headers, action="api_key.create", limit=2, offset=2)
    assert len(rest) == 1 and rest[0]["details"]["name"] == "a"
    newest = page["items"][0]["created_at"]
    assert await entries(client, user.headers, since="2999-01-01T00:00:00Z") == []
    assert len(await entries(client, user.headers, until=newest)) >= 1
    for bad in ({"outcome": "maybe"}, {"limit": 501}, {"since": "yesterday"}, {"actor_id": 0}):
        assert_error(await client.get(AUDIT, params=bad, headers=user.headers), 422)


async def test_audit_log_is_append_only_in_the_database(users: UserFactory, app: FastAPI) -> None:
    await users.create()
    for statement in ("UPDATE audit_log SET action = 'forged'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="append-only"):
            async with app.state.database.transaction() as session:
                await session.execute(text(statement))
    async with app.state.database.transaction() as session:
        actions = (
            (await session.execute(text("SELECT action FROM audit_log ORDER BY id")))
            .scalars()
            .all()
        )
    assert actions == ["user.create", "auth.login"]

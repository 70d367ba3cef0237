"""Accounts and tokens through the HTTP API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
from fastapi import FastAPI

from core_server.auth.models import Role
from core_server.core.settings import Settings
from tests.conftest import TEST_JWT_SECRET, asgi_client, make_settings
from tests.helpers import DEFAULT_PASSWORD, UserFactory, assert_error, assert_ok, login

REGISTER = "/api/v1/auth/register"
LOGIN = "/api/v1/auth/login"
ME = "/api/v1/auth/me"


def registration(username: str = "alice", **extra: object) -> dict[str, object]:
    return {
        "username": username,
        "email": f"{username}@example.com",
        "password": DEFAULT_PASSWORD,
        **extra,
    }


async def test_first_user_becomes_admin_then_registration_closes(client: httpx.AsyncClient) -> None:
    first = assert_ok(await client.post(REGISTER, json=registration("alice")), 201)
    assert first["role"] == "admin"
    assert first["is_superuser"] is True
    assert "hashed_password" not in first and "password" not in first

    assert_error(await client.post(REGISTER, json=registration("bob")), 403, "REGISTRATION_CLOSED")
    tokens = await login(client, "alice", DEFAULT_PASSWORD)
    me = assert_ok(
        await client.get(ME, headers={"Authorization": f"Bearer {tokens['access_token']}"})
    )
    assert me["username"] == "alice"


async def test_open_registration_gives_the_default_role(tmp_path, database_url: str) -> None:
    settings = make_settings(tmp_path, database_url, allow_registration=True)
    app = create_app(settings)
    async with app.router.lifespan_context(app), asgi_client(app) as client:
        assert_ok(await client.post(REGISTER, json=registration("alice")), 201)
        second = assert_ok(await client.post(REGISTER, json=registration("bob")), 201)
    assert second["role"] == "trader"
    assert second["is_superuser"] is False


def create_app(settings: Settings) -> FastAPI:
    from core_server.core.app import create_application

    return create_application(settings=settings)


async def test_register_refuses_mass_assignment(client: httpx.AsyncClient) -> None:
    body = registration("mallory", is_superuser=True, role="admin")
    error = assert_error(await client.post(REGISTER, json=body), 422, "VALIDATION_ERROR")
    fields = {f["field"] for f in error["details"]["fields"]}
    assert fields == {"is_superuser", "role"}
    # Nothing was stored: the first real registration still becomes the administrator.
    assert assert_ok(await client.post(REGISTER, json=registration("alice")), 201)["id"] == 1


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short1!", "at least 10"),
        ("onlyletterslong", "mix letters"),
        ("1234567890123", "mix letters"),
        ("aaaaaaaaa1", "repeat"),
        ("password123", "too common"),
        ("alice-is-great-1", "username"),
        ("x" * 200 + "1", "at most 128"),
    ],
)
async def test_register_refuses_weak_passwords(
    client: httpx.AsyncClient, password: str, reason: str
) -> None:
    error = assert_error(
        await client.post(REGISTER, json=registration("alice", password=password)), 422
    )
    assert reason in str(error["details"]["fields"]) + error["message"]
    assert error["details"]["fields"][0]["field"] == "password"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("username", ""),
        ("username", "a" * 51),
        ("username", "bad name"),
        ("username", "nul\x00byte"),
        ("username", "demo"),
        ("email", "not-an-email"),
        ("email", "a" * 95 + "@x.com"),
        ("full_name", "x" * 101),
        ("username", 12345),
        ("password", None),
    ],
)
async def test_register_refuses_bad_fields(
    client: httpx.AsyncClient, field: str, value: object
) -> None:
    error = assert_error(
        await client.post(REGISTER, json={**registration("alice"), field: value}), 422
    )
    assert error["details"]["fields"][0]["field"] == field


async def test_duplicate_username_and_email_conflict(client: httpx.AsyncClient) -> None:
    assert_ok(await client.post(REGISTER, json=registration("alice")), 201)
    admin = await login(client, "alice", DEFAULT_PASSWORD)
    headers = {"Authorization": f"Bearer {admin['access_token']}"}
    same_name = {**registration("ALICE"), "email": "other@example.com"}
    error = assert_error(await client.post("/api/v1/users", json=same_name, headers=headers), 409)
    assert error["code"] == "USER_EXISTS" and error["details"]["field"] == "username"
    same_mail = {**registration("carol"), "email": "Alice@Example.com"}
    error = assert_error(await client.post("/api/v1/users", json=same_mail, headers=headers), 409)
    assert error["details"]["field"] == "email"


async def test_login_with_the_oauth2_form_serves_swagger(users: UserFactory, client) -> None:
    user = await users.create()
    response = await client.post(
        LOGIN,
        data={"username": user.username, "password": DEFAULT_PASSWORD, "grant_type": "password"},
    )
    body = assert_ok(response)
    top = response.json()
    # Swagger's Authorize reads these two from the top level of the answer.
    assert top["token_type"] == "bearer" and top["access_token"] == body["access_token"]
    assert_ok(await client.get(ME, headers={"Authorization": f"Bearer {top['access_token']}"}))


async def test_wrong_password_and_unknown_user_look_the_same(users: UserFactory, client) -> None:
    user = await users.create()
    wrong = assert_error(
        await client.post(LOGIN, json={"username": user.username, "password": "Wrong-pass-1"}), 401
    )
    unknown = assert_error(
        await client.post(LOGIN, json={"username": "nobody", "password": "Wrong-pass-1"}), 401
    )
    assert wrong == unknown
    assert wrong["code"] == "INVALID_CREDENTIALS"


async def test_login_refuses_malformed_bodies(client: httpx.AsyncClient) -> None:
    assert_error(
        await client.post(
            LOGIN, content=b"{not json", headers={"content-type": "application/json"}
        ),
        422,
        "INVALID_JSON",
    )
    assert_error(await client.post(LOGIN, json={"username": "a"}), 422, "VALIDATION_ERROR")
    assert_error(await client.post(LOGIN, json=["a", "b"]), 422)
    assert_error(await client.post(LOGIN, json={"username": "a", "password": "b" * 10_000}), 422)


async def test_me_and_profile_update(users: UserFactory, client: httpx.AsyncClient) -> None:
    user = await users.create()
    other = await users.create()
    me = assert_ok(await client.get(ME, headers=user.headers))
    assert (me["id"], me["role"], me["mfa_enabled"]) == (user.id, "trader", False)
    updated = assert_ok(
        await client.patch(ME, json={"full_name": "Alice Liddell"}, headers=user.headers)
    )
    assert updated["full_name"] == "Alice Liddell"
    taken = {"email": f"{other.username}@example.com"}
    assert_error(await client.patch(ME, json=taken, headers=user.headers), 409, "USER_EXISTS")
    assert_error(await client.patch(ME, json={"role": "admin"}, headers=user.headers), 422)
    assert assert_ok(await client.get(ME, headers=user.headers))["role"] == "trader"


async def test_refresh_rotates_and_reuse_ends_the_session(
    users: UserFactory, client: httpx.AsyncClient
) -> None:
    user = await users.create()
    first = user.refresh_token
    rotated = assert_ok(await client.post("/api/v1/auth/refresh", json={"refresh_token": first}))
    assert rotated["refresh_token"] != first
    new_headers = {"Authorization": f"Bearer {rotated['access_token']}"}
    assert_ok(await client.get(ME, headers=new_headers))

    # The spent token comes back: someone copied it. The whole session ends.
    reuse = await client.post("/api/v1/auth/refresh", json={"refresh_token": first})
    assert_error(reuse, 401, "REFRESH_TOKEN_REUSED")
    assert_error(await client.get(ME, headers=new_headers), 401, "SESSION_REVOKED")
    assert_error(
        await client.post("/api/v1/auth/refresh", json={"refresh_token": rotated["refresh_token"]}),
        401,
        "SESSION_REVOKED",
    )
    # Other sessions of the same user are untouched.
    fresh = await login(client, user.username, user.password)
    assert_ok(await client.get(ME, headers={"Authorization": f"Bearer {fresh['access_token']}"}))


async def test_refresh_refuses_unknown_tokens(client: httpx.AsyncClient) -> None:
    for token in ("", "nonsense", "a" * 201):
        response = await client.post("/api/v1/auth/refresh", json={"refresh_token": token})
        assert response.status_code in (401, 422)
        assert response.json()["success"] is False


async def test_logout_ends_the_session(users: UserFactory, client: httpx.AsyncClient) -> None:
    user = await users.create()
    assert_ok(await client.post("/api/v1/auth/logout", headers=user.headers))
    assert_error(await client.get(ME, headers=user.headers), 401, "SESSION_REVOKED")
    refresh = await client.post("/api/v1/auth/refresh", json={"refresh_token": user.refresh_token})
    assert_error(refresh, 401, "SESSION_REVOKED")


async def test_change_password_ends_other_sessions(
    users: UserFactory, client: httpx.AsyncClient
) -> None:
    user = await users.create()
    other_device = await login(client, user.username, user.password)
    new_password = "An0ther-Secret-Phrase"
    body = {"current_password": user.password, "new_password": new_password}
    assert_ok(await client.post("/api/v1/auth/change-password", json=body, headers=user.headers))

    other_headers = {"Authorization": f"Bearer {other_device['access_token']}"}
    assert_error(await client.get(ME, headers=other_headers), 401, "SESSION_REVOKED")
    assert_ok(await client.get(ME, headers=user.headers))  # the session that changed it stays
    wrong = await client.post(LOGIN, json={"username": user.username, "password": user.password})
    assert_error(wrong, 401)
    await login(client, user.username, new_password)


async def test_change_password_refusals(users: UserFactory, client: httpx.AsyncClient) -> None:
    user = await users.create()
    url = "/api/v1/auth/change-password"
    wrong = {"current_password": "Not-the-passw0rd", "new_password": "Fresh-Passw0rd-9"}
    assert_error(
        await client.post(url, json=wrong, headers=user.headers), 401, "INVALID_CREDENTIALS"
    )
    weak = {"current_password": user.password, "new_password": "weak"}
    assert_error(await client.post(url, json=weak, headers=user.headers), 422)
    with_name = {"current_password": user.password, "new_password": f"{user.username}-Passw0rd"}
    assert_error(await client.post(url, json=with_name, headers=user.headers), 422, "WEAK_PASSWORD")
    same = {"current_password": user.password, "new_password": user.password}
    assert_error(await client.post(url, json=same, headers=user.headers), 422, "WEAK_PASSWORD")
    await login(client, user.username, user.password)  # nothing changed


def _token(claims: dict[str, object], secret: str = TEST_JWT_SECRET, alg: str = "HS256") -> str:
    return jwt.encode(claims, secret, algorithm=alg)


async def test_forged_expired_and_alg_none_tokens_are_refused(
    users: UserFactory, client: httpx.AsyncClient
) -> None:
    user = await users.create()
    claims = jwt.decode(user.access_token, options={"verify_signature": False})
    now = datetime.now(UTC)
    header_none = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0"  # {"alg":"none","typ":"JWT"}
    unsigned = jwt.encode(claims, key=None, algorithm="none")
    cases = {
        "forged": (_token(claims, secret="another-secret-" + "x" * 40), "INVALID_TOKEN"),
        "expired": (_token({**claims, "exp": now - timedelta(minutes=1)}), "TOKEN_EXPIRED"),
        "alg none": (unsigned, "INVALID_TOKEN"),
        "alg none, empty signature": (
            header_none + "." + user.access_token.split(".")[1] + ".",
            "INVALID_TOKEN",
        ),
        "other algorithm": (_token(claims, alg="HS512"), "INVALID_TOKEN"),
        "no session claim": (
            _token({k: v for k, v in claims.items() if k != "sid"}),
            "INVALID_TOKEN",
        ),
        "someone else's id": (_token({**claims, "sub": "999"}), "INVALID_TOKEN"),
        "garbage": ("not.a.jwt", "INVALID_TOKEN"),
    }
    for name, (token, code) in cases.items():
        response = await client.get(ME, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, name
        assert response.json()["error"]["code"] == code, name
    assert_error(await client.get(ME), 401, "UNAUTHORIZED")
    assert_error(await client.get(ME, headers={"Authorization": "Basic abc"}), 401)


async def test_disabled_account_is_locked_out(
    users: UserFactory, client: httpx.AsyncClient
) -> None:
    admin = await users.create(Role.admin)
    user = await users.create()
    update = {"is_active": False}
    assert_ok(await client.patch(f"/api/v1/users/{user.id}", json=update, headers=admin.headers))
    assert_error(await client.get(ME, headers=user.headers), 401)
    denied = await client.post(LOGIN, json={"username": user.username, "password": user.password})
    assert_error(denied, 403, "ACCOUNT_DISABLED")


async def test_admin_manages_users_and_others_cannot(
    users: UserFactory, client: httpx.AsyncClient
) -> None:
    admin = await users.create(Role.admin)
    trader = await users.create(Role.trader)
    body = {**registration("viewer1"), "role": "viewer"}
    created = assert_ok(await client.post("/api/v1/users", json=body, headers=admin.headers), 201)
    assert created["role"] == "viewer"
    listed = assert_ok(await client.get("/api/v1/users?limit=2", headers=admin.headers))
    assert listed["total"] == 3 and len(listed["items"]) == 2

    promoted = assert_ok(
        await client.patch(
            f"/api/v1/users/{created['id']}", json={"role": "admin"}, headers=admin.headers
        )
    )
    assert promoted["is_superuser"] is True
    demote_self = {"role": "viewer"}
    assert_error(
        await client.patch(f"/api/v1/users/{admin.id}", json=demote_self, headers=admin.headers),
        409,
        "CANNOT_CHANGE_SELF",
    )
    assert_error(
        await client.get("/api/v1/users", headers=trader.headers), 403, "INSUFFICIENT_ROLE"
    )
    assert_error(await client.post("/api/v1/users", json=body, headers=trader.headers), 403)
    assert_error(
        await client.get("/api/v1/users/999", headers=admin.headers), 404, "USER_NOT_FOUND"
    )
    assert_error(await client.get("/api/v1/users/99999999999", headers=admin.headers), 422)

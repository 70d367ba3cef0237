"""Two-factor authentication: enrolment, login with a code, recovery codes, switching off."""

from __future__ import annotations

import time

import httpx
import pyotp

from tests.helpers import ActingUser, UserFactory, assert_error, assert_ok

LOGIN = "/api/v1/auth/login"


def code_at(secret: str, offset_steps: int = 0) -> str:
    return pyotp.TOTP(secret).at(time.time() + offset_steps * 30)


async def enrol(client: httpx.AsyncClient, user: ActingUser) -> tuple[str, list[str]]:
    setup = assert_ok(await client.post("/api/v1/auth/mfa/setup", headers=user.headers))
    enabled = assert_ok(
        await client.post(
            "/api/v1/auth/mfa/enable", json={"code": code_at(setup["secret"])}, headers=user.headers
        )
    )
    return setup["secret"], enabled["recovery_codes"]


def credentials(user: ActingUser, **extra: str) -> dict[str, str]:
    return {"username": user.username, "password": user.password, **extra}


async def test_setup_gives_a_scannable_secret(
    users: UserFactory, client: httpx.AsyncClient
) -> None:
    user = await users.create()
    setup = assert_ok(await client.post("/api/v1/auth/mfa/setup", headers=user.headers))
    parsed = pyotp.parse_uri(setup["otpauth_uri"])
    assert parsed.secret == setup["secret"]
    assert parsed.name == user.username and parsed.issuer == "Freqtrade Multi-Bot"
    assert setup["qr_svg"].startswith("data:image/svg+xml")
    status = assert_ok(await client.get("/api/v1/auth/mfa", headers=user.headers))
    assert status == {"enabled": False, "pending": True, "recovery_codes_left": 0}
    # Not enabled until confirmed: a password alone still logs in.
    assert_ok(await client.post(LOGIN, json=credentials(user)))


async def test_enable_needs_a_correct_code(users: UserFactory, client: httpx.AsyncClient) -> None:
    user = await users.create()
    url = "/api/v1/auth/mfa/enable"
    assert_error(await client.post(url, json={"code": "123456"}, headers=user.headers), 409)
    await client.post("/api/v1/auth/mfa/setup", headers=user.headers)
    wrong = await client.post(url, json={"code": "000000"}, headers=user.headers)
    assert_error(wrong, 401, "INVALID_MFA_CODE")
    assert_error(await client.post(url, json={"code": "12"}, headers=user.headers), 422)


async def test_login_asks_for_and_checks_the_code(
    users: UserFactory, client: httpx.AsyncClient
) -> None:
    user = await users.create()
    secret, recovery = await enrol(client, user)
    assert len(recovery) == 10 and len(set(recovery)) == 10

    error = assert_error(await client.post(LOGIN, json=credentials(user)), 401, "MFA_REQUIRED")
    assert error["details"] == {"mfa_required": True}
    wrong = await client.post(LOGIN, json=credentials(user, totp_code="000000"))
    assert_error(wrong, 401, "INVALID_MFA_CODE")
    # The code that enabled MFA was the current one; the next step's code is fresh.
    fresh = code_at(secret, 1)
    assert_ok(await client.post(LOGIN, json=credentials(user, totp_code=fresh)))
    replay = await client.post(LOGIN, json=credentials(user, totp_code=fresh))
    assert_error(replay, 401, "INVALID_MFA_CODE")
    # A wrong password is still a wrong password, code or not.
    bad = {"username": user.username, "password": "Wrong-Passw0rd", "totp_code": code_at(secret, 1)}
    assert_error(await client.post(LOGIN, json=bad), 401, "INVALID_CREDENTIALS")


async def test_recovery_codes_work_once(users: UserFactory, client: httpx.AsyncClient) -> None:
    user = await users.create()
    _, recovery = await enrol(client, user)
    code = recovery[0].upper().replace("-", " ")  # typed sloppily, still accepted
    assert_ok(await client.post(LOGIN, json=credentials(user, recovery_code=code)))
    again = await client.post(LOGIN, json=credentials(user, recovery_code=recovery[0]))
    assert_error(again, 401, "INVALID_MFA_CODE")
    status = assert_ok(await client.get("/api/v1/auth/mfa", headers=user.headers))
    assert status["enabled"] is True and status["recovery_codes_left"] == 9


async def test_disable_only_with_a_valid_code(
    users: UserFactory, client: httpx.AsyncClient
) -> None:
    user = await users.create()
    secret, recovery = await enrol(client, user)
    url = "/api/v1/auth/mfa/disable"
    assert_error(await client.post(url, json={"code": "000000"}, headers=user.headers), 401)
    assert assert_ok(await client.get("/api/v1/auth/mfa", headers=user.headers))["enabled"]

    assert_ok(await client.post(url, json={"code": recovery[3]}, headers=user.headers))
    status = assert_ok(await client.get("/api/v1/auth/mfa", headers=user.headers))
    assert status == {"enabled": False, "pending": False, "recovery_codes_left": 0}
    assert_ok(await client.post(LOGIN, json=credentials(user)))
    assert_error(await client.post(url, json={"code": recovery[4]}, headers=user.headers), 409)


async def test_regenerating_recovery_codes_retires_the_old_ones(
    users: UserFactory, client: httpx.AsyncClient
) -> None:
    user = await users.create()
    secret, old = await enrol(client, user)
    new = assert_ok(
        await client.post(
            "/api/v1/auth/mfa/recovery-codes",
            json={"code": code_at(secret, 1)},
            headers=user.headers,
        )
    )["recovery_codes"]
    assert not set(new) & set(old)
    assert_error(await client.post(LOGIN, json=credentials(user, recovery_code=old[0])), 401)
    assert_ok(await client.post(LOGIN, json=credentials(user, recovery_code=new[0])))


async def test_totp_secret_is_encrypted_at_rest(users: UserFactory, client, app) -> None:
    from sqlalchemy import select

    from core_server.auth.models import User

    user = await users.create()
    secret, _ = await enrol(client, user)
    async with app.state.database.transaction() as session:
        stored = (await session.execute(select(User).where(User.id == user.id))).scalar_one()
    assert stored.totp_secret and secret not in stored.totp_secret

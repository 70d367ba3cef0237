"""Every answer is in the envelope: successes, and every class of error."""

from __future__ import annotations

import logging
import re

import httpx
import pytest
from fastapi import FastAPI

from core_server.auth.models import Role
from tests.conftest import asgi_client, make_settings
from tests.helpers import UserFactory, assert_error, assert_ok

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


async def test_success_envelope_shape(client: httpx.AsyncClient) -> None:
    body = (await client.get("/health")).json()
    assert set(body) == {"success", "data", "message", "timestamp"}
    assert body["success"] is True and ISO_UTC.match(body["timestamp"])


async def test_unknown_route_and_wrong_method(client: httpx.AsyncClient) -> None:
    error = assert_error(await client.get("/api/v1/no-such-thing"), 404, "NOT_FOUND")
    assert "/api/v1/no-such-thing" in error["message"]
    assert_error(await client.delete("/api/v1/auth/me"), 405, "METHOD_NOT_ALLOWED")
    assert_error(await client.get("/api/v1/auth/login"), 405, "METHOD_NOT_ALLOWED")


async def test_validation_errors_list_each_field(users: UserFactory, client) -> None:
    admin = await users.create(Role.admin)
    body = {"username": "x", "email": "nope", "password": "Str0ng-Passw0rd!", "role": "god"}
    error = assert_error(
        await client.post("/api/v1/users", json=body, headers=admin.headers),
        422,
        "VALIDATION_ERROR",
    )
    fields = {f["field"]: f for f in error["details"]["fields"]}
    assert set(fields) == {"username", "email", "role"}
    assert all(f["message"] and f["location"] == "body" for f in fields.values())
    query = assert_error(await client.get("/api/v1/users?limit=0", headers=admin.headers), 422)
    assert query["details"]["fields"][0] == {
        **query["details"]["fields"][0],
        "field": "query.limit",
        "location": "query",
    }


@pytest.mark.parametrize(
    "payload",
    [
        b"{",
        b'{"username": "a", "password": "b"',
        b"\x00\x01\x02",
        b'{"username": "\\ud800", "password": "x"}',
        b"[" * 5000 + b"]" * 5000,
        b'{"username": 1e999999, "password": "x"}',
    ],
)
async def test_malformed_json_is_a_clear_422(client: httpx.AsyncClient, payload: bytes) -> None:
    response = await client.post(
        "/api/v1/auth/login", content=payload, headers={"content-type": "application/json"}
    )
    error = assert_error(response, 422)
    assert error["code"] in ("INVALID_JSON", "VALIDATION_ERROR")


async def test_body_over_one_mebibyte_is_413(users: UserFactory, client) -> None:
    user = await users.create()
    big = b'{"name": "' + b"x" * (1024 * 1024 + 10) + b'"}'
    response = await client.post(
        "/api/v1/auth/api-keys",
        content=big,
        headers={**user.headers, "content-type": "application/json"},
    )
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")

    async def streamed():  # no Content-Length: counted while reading
        for _ in range(20):
            yield b"x" * 65536

    response = await client.post(
        "/api/v1/auth/api-keys",
        content=streamed(),
        headers={**user.headers, "content-type": "application/json"},
    )
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")
    assert assert_ok(await client.get("/api/v1/auth/api-keys", headers=user.headers)) == []


async def test_server_fault_hides_the_trace_and_logs_the_request_id(
    tmp_path, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    from core_server.core.app import create_application

    app = create_application(settings=make_settings(tmp_path, database_url))

    @app.get("/api/v1/test-boom")
    async def boom() -> None:
        raise RuntimeError("secret internal detail")

    caplog.set_level(logging.ERROR)
    async with app.router.lifespan_context(app), asgi_client(app) as client:
        response = await client.get("/api/v1/test-boom")
    error = assert_error(response, 500, "INTERNAL_ERROR")
    request_id = response.headers["x-request-id"]
    assert error["details"] == {"request_id": request_id}
    assert "secret internal detail" not in response.text and "Traceback" not in response.text
    logged = [r for r in caplog.records if request_id in r.getMessage()]
    assert logged and logged[0].exc_info is not None


async def test_request_id_is_echoed_or_made(client: httpx.AsyncClient) -> None:
    mine = await client.get("/health", headers={"X-Request-ID": "abc-123-def-456"})
    assert mine.headers["x-request-id"] == "abc-123-def-456"
    hostile = await client.get("/health", headers={"X-Request-ID": "bad id\r\nInjected: 1"})
    assert re.fullmatch(r"[0-9a-f]{32}", hostile.headers["x-request-id"])


async def test_rate_limit_headers_and_429(tmp_path, database_url: str) -> None:
    from core_server.core.app import create_application

    settings = make_settings(
        tmp_path, database_url, rate_limit_anonymous=3, rate_limit_authenticated=5
    )
    app = create_application(settings=settings)
    async with app.router.lifespan_context(app), asgi_client(app) as client:
        # Logging in is an anonymous request: it spends the first of three.
        user = await UserFactory(app, client).create()
        remaining = []
        for _ in range(2):
            response = await client.get("/api/v1/monitoring/health")
            assert response.headers["x-ratelimit-limit"] == "3"
            remaining.append(int(response.headers["x-ratelimit-remaining"]))
        assert remaining == [1, 0]
        blocked = await client.get("/api/v1/auth/me")
        assert_error(blocked, 429, "RATE_LIMITED")
        assert 1 <= int(blocked.headers["retry-after"]) <= 60
        assert blocked.headers["x-ratelimit-remaining"] == "0"
        # Liveness is never counted.
        health = await client.get("/health")
        assert health.status_code == 200 and "x-ratelimit-limit" not in health.headers

        # A signed-in user has a budget of their own, not the exhausted anonymous one.
        authed = await client.get("/api/v1/auth/me", headers=user.headers)
        assert_ok(authed)
        assert authed.headers["x-ratelimit-limit"] == "5"
        assert authed.headers["x-ratelimit-remaining"] == "4"


async def test_openapi_title_version_and_tags(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    assert schema["info"]["title"] == "Freqtrade Multi-Bot System API"
    assert schema["info"]["version"] == "1.0.0"
    assert [t["name"] for t in schema["tags"]] == [
        "auth",
        "bots",
        "strategies",
        "backtest",
        "analytics",
        "monitoring",
        "websocket",
    ]
    login = schema["paths"]["/api/v1/auth/login"]["post"]
    assert set(login["requestBody"]["content"]) == {
        "application/json",
        "application/x-www-form-urlencoded",
    }
    assert "401" in login["responses"]
    for page in ("/docs", "/redoc"):
        response = await client.get(page)
        assert response.status_code == 200 and "<html" in response.text.lower()


async def test_each_profile_serves_accounts_and_health(tmp_path, database_url: str) -> None:
    from core_server.core.app import create_application

    for profile in ("minimal", "standard", "full_featured"):
        app: FastAPI = create_application(profile, make_settings(tmp_path, database_url))
        async with app.router.lifespan_context(app), asgi_client(app) as client:
            assert (await client.get("/api/v1/monitoring/health")).json()["data"][
                "profile"
            ] == profile
    with pytest.raises(ValueError):
        create_application("everything", make_settings(tmp_path, database_url))

"""Test helpers: users to act as, and the tenancy check every owned resource must pass."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI

from core_server.auth import service
from core_server.auth.models import Role
from core_server.auth.schemas import AdminUserCreate

DEFAULT_PASSWORD = "Str0ng-Passw0rd!"
_counter = itertools.count(1)


@dataclass
class ActingUser:
    id: int
    username: str
    password: str
    role: Role
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


class UserFactory:
    def __init__(self, app: FastAPI, client: httpx.AsyncClient) -> None:
        self.app = app
        self.client = client

    async def create(
        self,
        role: Role | str = Role.trader,
        *,
        username: str | None = None,
        password: str = DEFAULT_PASSWORD,
    ) -> ActingUser:
        username = username or f"user{next(_counter)}"
        body = AdminUserCreate(
            username=username, email=f"{username}@example.com", password=password, role=Role(role)
        )
        async with self.app.state.database.transaction() as session:
            user = await service.create_user(session, None, body)
        tokens = await login(self.client, username, password)
        return ActingUser(
            id=user.id,
            username=username,
            password=password,
            role=Role(role),
            access_token=tokens["access_token"],
            refresh_token=tokens["refresh_token"],
        )


async def login(client: httpx.AsyncClient, username: str, password: str, **extra: str) -> Any:
    response = await client.post(
        "/api/v1/auth/login", json={"username": username, "password": password, **extra}
    )
    assert response.status_code == 200, response.text
    return response.json()["data"]


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """The response is the error envelope with this status (and code)."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False
    assert set(body) == {"success", "error", "timestamp"}
    assert body["error"]["message"]
    assert isinstance(body["error"]["details"], dict)
    if code is not None:
        assert body["error"]["code"] == code, body
    error: dict[str, Any] = body["error"]
    return error


def assert_ok(response: httpx.Response, status: int = 200) -> Any:
    """The response is the success envelope with this status; returns its data."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is True
    assert {"data", "message", "timestamp"} <= set(body)
    return body["data"]


async def assert_owner_only(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    *,
    owner: ActingUser,
    stranger: ActingUser,
    missing_path: str,
    json: Any = None,
) -> None:
    """Another tenant's resource must look exactly like a missing one (404, same code and
    message), anonymous callers get 401, and the owner succeeds. Call it before any request
    that changes the resource, as the owner's call comes last."""
    anonymous = await client.request(method, path, json=json)
    assert_error(anonymous, 401)
    foreign = assert_error(
        await client.request(method, path, json=json, headers=stranger.headers), 404
    )
    missing = assert_error(
        await client.request(method, missing_path, json=json, headers=owner.headers), 404
    )
    assert (foreign["code"], foreign["message"]) == (missing["code"], missing["message"])
    owned = await client.request(method, path, json=json, headers=owner.headers)
    assert 200 <= owned.status_code < 300, owned.text

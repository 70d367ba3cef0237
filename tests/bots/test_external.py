"""Attaching a freqtrade bot that runs elsewhere: same reads and steering, no process control,
and only at addresses the outbound policy admits."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from core_server.bots.models import Bot
from tests.bots.test_lifecycle import BOTS, fleet_app, simulator, wait_status  # noqa: F401
from tests.conftest import asgi_client
from tests.helpers import UserFactory, assert_error, assert_ok, assert_owner_only

pytestmark = pytest.mark.freqtrade


async def test_attach_read_and_steer_an_external_bot(fleet_app: FastAPI) -> None:  # noqa: F811
    async with asgi_client(fleet_app) as client:
        users = UserFactory(fleet_app, client)
        trader = await users.create()
        stranger = await users.create()
        # A real freqtrade bot to stand for "a bot somewhere else": one of ours, on loopback.
        body = {"name": "host", "pairs": ["BTC/USDT"], "stake_amount": 50}
        host = assert_ok(await client.post(BOTS, json=body, headers=trader.headers), 201)
        await client.post(f"{BOTS}/{host['id']}/start", headers=trader.headers)
        await wait_status(client, trader, host["id"], "running")
        manager = fleet_app.state.bot_manager
        async with fleet_app.state.database.transaction() as session:
            row = (await session.execute(select(Bot).where(Bot.id == host["id"]))).scalar_one()
        username, password = row.api_username, manager.decrypt(row, "api_password")
        url = f"http://127.0.0.1:{host['api_port']}"

        wrong = {"name": "ext", "api_url": url, "username": username, "password": "nope"}
        error = assert_error(
            await client.post(f"{BOTS}/external", json=wrong, headers=trader.headers), 422
        )
        assert error["code"] == "BOT_UNREACHABLE" and "refused" in error["message"]

        attach = {"name": "ext", "api_url": url, "username": username, "password": password}
        external = assert_ok(
            await client.post(f"{BOTS}/external", json=attach, headers=trader.headers), 201
        )
        assert external["kind"] == "external" and external["strategy_name"] == "SampleStrategy"
        assert password not in str(external)
        ext = f"{BOTS}/{external['id']}"
        assert assert_ok(await client.get(f"{ext}/status", headers=trader.headers)) == []
        assert_ok(await client.get(f"{ext}/profit", headers=trader.headers))
        entered = assert_ok(
            await client.post(
                f"{ext}/forceenter", json={"pair": "BTC/USDT"}, headers=trader.headers
            )
        )
        assert entered["pair"] == "BTC/USDT"
        for action in ("start", "stop", "restart"):
            assert_error(
                await client.post(f"{ext}/{action}", headers=trader.headers), 409, "BOT_NOT_MANAGED"
            )
        await assert_owner_only(
            client,
            "GET",
            f"{ext}/profit",
            owner=trader,
            stranger=stranger,
            missing_path=f"{BOTS}/999999/profit",
        )
        # Deleting the external bot forgets it; the bot itself keeps running.
        assert_ok(await client.delete(ext, headers=trader.headers))
        assert (await client.get(f"{BOTS}/{host['id']}", headers=trader.headers)).json()["data"][
            "status"
        ] == "running"


@pytest.mark.parametrize(
    "api_url",
    [
        "http://169.254.169.254",
        "http://10.1.2.3:8080",
        "http://[fe80::1]:8080",
        "file:///etc/passwd",
        "http://user:pw@127.0.0.1:8080",
    ],
)
async def test_hostile_bot_urls_are_refused(users: UserFactory, client, api_url: str) -> None:
    trader = await users.create()
    body = {"name": "evil", "api_url": api_url, "username": "u", "password": "p"}
    error = assert_error(
        await client.post(f"{BOTS}/external", json=body, headers=trader.headers), 422
    )
    assert error["code"] == "URL_NOT_ALLOWED"
    assert assert_ok(await client.get(BOTS, headers=trader.headers))["total"] == 0

"""The bots API without running processes: creation checked by freqtrade itself, updates,
deletion, configs, tenancy and roles."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select, text

from core_server.auth.models import Role
from core_server.bots.models import Bot
from tests.helpers import UserFactory, assert_error, assert_ok, assert_owner_only

BOTS = "/api/v1/bots"


def bot_body(name: str = "alpha", **extra: Any) -> dict[str, Any]:
    return {"name": name, "pairs": ["BTC/USDT", "ETH/USDT"], "stake_amount": 50, **extra}


async def create(client: httpx.AsyncClient, headers: dict[str, str], **extra: Any) -> Any:
    return assert_ok(await client.post(BOTS, json=bot_body(**extra), headers=headers), 201)


async def test_create_read_list_update_delete(
    users: UserFactory, client: httpx.AsyncClient, app: FastAPI
) -> None:
    trader = await users.create(Role.trader)
    bot = await create(client, trader.headers, description="first")
    assert bot["status"] == "stopped" and bot["desired_state"] == "stopped"
    assert bot["strategy_name"] == "SampleStrategy" and bot["exchange"] == "simulator"
    assert bot["dry_run"] is True and bot["kind"] == "managed"
    assert bot["api_port"] and bot["has_exchange_keys"] is False
    for secret in ("api_password", "jwt_secret", "ws_token", "exchange_key", "api_username"):
        assert secret not in bot

    assert (
        assert_ok(await client.get(f"{BOTS}/{bot['id']}", headers=trader.headers))["id"]
        == bot["id"]
    )
    listed = assert_ok(await client.get(BOTS, params={"search": "alp"}, headers=trader.headers))
    assert [b["name"] for b in listed["items"]] == ["alpha"] and listed["total"] == 1
    assert (
        assert_ok(await client.get(BOTS, params={"status": "running"}, headers=trader.headers))[
            "items"
        ]
        == []
    )

    changed = assert_ok(
        await client.put(
            f"{BOTS}/{bot['id']}",
            json={"max_open_trades": 5, "pairs": ["SOL/USDT"], "description": "second"},
            headers=trader.headers,
        )
    )
    assert (changed["max_open_trades"], changed["pairs"], changed["description"]) == (
        5,
        ["SOL/USDT"],
        "second",
    )
    assert_ok(await client.delete(f"{BOTS}/{bot['id']}", headers=trader.headers))
    assert_error(
        await client.get(f"{BOTS}/{bot['id']}", headers=trader.headers), 404, "BOT_NOT_FOUND"
    )
    async with app.state.database.transaction() as session:
        assert (await session.execute(select(Bot))).first() is None


async def test_freqtrade_refuses_a_bad_config_before_anything_is_stored(
    users: UserFactory, client: httpx.AsyncClient
) -> None:
    trader = await users.create()
    bad = bot_body(config={"minimal_roi": {"0": "lots"}})
    error = assert_error(
        await client.post(BOTS, json=bad, headers=trader.headers), 422, "INVALID_BOT_CONFIG"
    )
    assert "lots" in error["message"] and error["details"]["freqtrade"]
    assert assert_ok(await client.get(BOTS, headers=trader.headers))["total"] == 0


async def test_bad_bot_bodies_get_field_errors(
    users: UserFactory, client: httpx.AsyncClient
) -> None:
    trader = await users.create()
    cases = {
        "unknown strategy": (bot_body(strategy_name="NoSuchStrategy"), "strategy_name"),
        "bad pair": (bot_body(pairs=["BTCUSDT"]), "pairs.0"),
        "pair in another currency": (bot_body(pairs=["ETH/BTC"]), "body"),
        "repeated pair": (bot_body(pairs=["BTC/USDT", "btc/usdt"]), "body"),
        "bad timeframe": (bot_body(timeframe="7m"), "timeframe"),
        "bad exchange": (bot_body(exchange="mtgox"), "exchange"),
        "negative stake": (bot_body(stake_amount=-1), "stake_amount"),
        "owner field": (bot_body(owner_id=1), "owner_id"),
        "status field": (bot_body(status="running"), "status"),
        "protected override": (bot_body(config={"api_server": {"enabled": False}}), "config"),
        "ccxt url override": (
            bot_body(config={"exchange": {"ccxt_config": {"urls": "http://169.254.169.254"}}}),
            "config",
        ),
        "simulator live": (bot_body(dry_run=False, confirm_live_trading=True), "body"),
        "live without confirmation": (
            bot_body(exchange="binance", dry_run=False, exchange_key="k", exchange_secret="s"),
            "body",
        ),
        "empty name": (bot_body(name=" "), "name"),
    }
    for label, (body, field) in cases.items():
        response = await client.post(BOTS, json=body, headers=trader.headers)
        error = assert_error(response, 422)
        fields = [f["field"] for f in error["details"].get("fields", [])]
        assert field in fields, (label, error)
    assert assert_ok(await client.get(BOTS, headers=trader.headers))["total"] == 0


async def test_names_clash_per_owner_only(users: UserFactory, client: httpx.AsyncClient) -> None:
    alice = await users.create()
    bob = await users.create()
    await create(client, alice.headers, name="alpha")
    clash = await client.post(BOTS, json=bot_body("ALPHA"), headers=alice.headers)
    assert_error(clash, 409, "BOT_NAME_TAKEN")
    other = await create(client, bob.headers, name="alpha")  # bob's own namespace
    assert other["owner_id"] == bob.id


async def test_config_read_masks_secrets_and_update_is_checked(
    users: UserFactory, client: httpx.AsyncClient
) -> None:
    trader = await users.create()
    bot = await create(
        client,
        trader.headers,
        exchange="binance",
        exchange_key="my-key-123",
        exchange_secret="my-secret-456",
    )
    assert bot["has_exchange_keys"] is True
    url = f"{BOTS}/{bot['id']}/config"
    config = assert_ok(await client.get(url, headers=trader.headers))
    effective = config["effective"]
    assert effective["api_server"]["listen_port"] == bot["api_port"]
    assert effective["exchange"]["pair_whitelist"] == ["BTC/USDT", "ETH/USDT"]
    assert "my-key-123" not in str(config) and "my-secret-456" not in str(config)

    saved = assert_ok(
        await client.put(url, json={"config": {"minimal_roi": {"0": 0.05}}}, headers=trader.headers)
    )
    assert saved["overrides"] == {"minimal_roi": {"0": 0.05}}
    assert saved["effective"]["minimal_roi"] == {"0": 0.05}
    refused = await client.put(url, json={"config": {"stoploss": "far"}}, headers=trader.headers)
    assert_error(refused, 422, "INVALID_BOT_CONFIG")
    kept = assert_ok(await client.get(url, headers=trader.headers))
    assert kept["overrides"] == {"minimal_roi": {"0": 0.05}}


async def test_secrets_are_encrypted_at_rest(
    users: UserFactory, client: httpx.AsyncClient, app: FastAPI
) -> None:
    trader = await users.create()
    await create(
        client,
        trader.headers,
        exchange="binance",
        exchange_key="plain-key-abc",
        exchange_secret="plain-secret-def",
    )
    async with app.state.database.transaction() as session:
        stored = (await session.execute(text("SELECT * FROM bots"))).mappings().one()
    row = " ".join(str(value) for value in stored.values())
    assert "plain-key-abc" not in row and "plain-secret-def" not in row
    assert stored["api_password"] and stored["jwt_secret"] and stored["ws_token"]


async def test_tenancy_and_roles(users: UserFactory, client: httpx.AsyncClient) -> None:
    owner = await users.create(Role.trader)
    stranger = await users.create(Role.trader)
    viewer = await users.create(Role.viewer)
    admin = await users.create(Role.admin)
    bot = await create(client, owner.headers)
    path = f"{BOTS}/{bot['id']}"
    missing = f"{BOTS}/999999"
    for method, suffix, body in (
        ("GET", "", None),
        ("GET", "/config", None),
        ("PUT", "", {"description": "mine"}),
        ("PUT", "/config", {"config": {}}),
    ):
        await assert_owner_only(
            client,
            method,
            path + suffix,
            owner=owner,
            stranger=stranger,
            missing_path=missing + suffix,
            json=body,
        )
    assert assert_ok(await client.get(BOTS, headers=stranger.headers))["total"] == 0
    # Viewers read but never change; admins see every bot.
    assert_error(await client.post(BOTS, json=bot_body("v"), headers=viewer.headers), 403)
    assert_error(await client.post(f"{path}/start", headers=viewer.headers), 403)
    assert_error(await client.delete(path, headers=viewer.headers), 403)
    assert assert_ok(await client.get(BOTS, headers=admin.headers))["total"] == 1
    assert_ok(await client.get(path, headers=admin.headers))


async def test_live_calls_need_a_running_bot(users: UserFactory, client: httpx.AsyncClient) -> None:
    trader = await users.create()
    bot = await create(client, trader.headers)
    for method, suffix, body in (
        ("GET", "/status", None),
        ("GET", "/profit", None),
        ("POST", "/forceenter", {"pair": "BTC/USDT"}),
        ("POST", "/forceexit", {"tradeid": "all"}),
    ):
        response = await client.request(
            method, f"{BOTS}/{bot['id']}{suffix}", json=body, headers=trader.headers
        )
        assert_error(response, 409, "BOT_NOT_RUNNING")
    assert_error(
        await client.post(
            f"{BOTS}/{bot['id']}/forceenter", json={"pair": "nope"}, headers=trader.headers
        ),
        422,
    )

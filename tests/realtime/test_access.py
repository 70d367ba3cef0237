"""Who may connect and how: credentials, the per-user connection limit, malformed messages,
the connections list and admin broadcasts."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from core_server.auth.models import Role
from core_server.core.security import encode_access_token
from core_server.realtime import connection
from core_server.realtime.protocol import SUBPROTOCOL
from tests.conftest import TEST_JWT_SECRET
from tests.helpers import assert_error, assert_ok
from tests.realtime.support import LiveServer

CONNECTIONS = "/api/v1/ws/connections"
BROADCAST = "/api/v1/ws/broadcast"


async def test_missing_and_bad_credentials_are_refused_with_4401(live: LiveServer) -> None:
    error, code, reason = await live.refused()
    assert (code, reason, error["code"]) == (4401, "UNAUTHORIZED", "UNAUTHORIZED")
    assert "token" in error["message"]

    error, code, reason = await live.refused(token="not-a-token")
    assert (code, reason, error["code"]) == (4401, "INVALID_TOKEN", "INVALID_TOKEN")
    _, code, reason = await live.refused(token="mbk_abcdefabcdef_madeup")
    assert (code, reason) == (4401, "INVALID_TOKEN")

    alice = await live.users.create()
    expired, _ = encode_access_token(
        TEST_JWT_SECRET, subject=str(alice.id), session_id=uuid.uuid4().hex, minutes=-1
    )
    _, code, reason = await live.refused(token=expired)
    assert (code, reason) == (4401, "TOKEN_EXPIRED")

    assert_ok(await live.http.post("/api/v1/auth/logout", headers=alice.headers))
    _, code, reason = await live.refused(token=alice.access_token)
    assert (code, reason) == (4401, "SESSION_REVOKED")

    # A bad header is not rescued by a good token elsewhere: the header is read first.
    bob = await live.users.create()
    _, code, _ = await live.refused(
        headers={"Authorization": "Bearer nonsense"}, token=bob.access_token
    )
    assert code == 4401


async def test_a_disabled_account_and_bad_parameters_are_refused(live: LiveServer) -> None:
    admin = await live.users.create(Role.admin)
    alice = await live.users.create()
    error, code, reason = await live.refused(token=alice.access_token, after_id="-1")
    assert (code, reason) == (4422, "INVALID_PARAMETERS")
    assert error["details"]["fields"][0]["field"] == "after_id"
    _, code, _ = await live.refused(token=alice.access_token, type="DROP TABLE")
    assert code == 4422

    key = assert_ok(
        await live.http.post("/api/v1/auth/api-keys", json={"name": "k"}, headers=alice.headers),
        201,
    )
    disabled = await live.http.patch(
        f"/api/v1/users/{alice.id}", json={"is_active": False}, headers=admin.headers
    )
    assert_ok(disabled)
    # Disabling ends the account's sessions; its API keys say why they no longer work.
    _, code, reason = await live.refused(token=alice.access_token)
    assert (code, reason) == (4401, "SESSION_REVOKED")
    error, code, reason = await live.refused(token=key["key"])
    assert (code, reason, error["code"]) == (4403, "ACCOUNT_DISABLED", "ACCOUNT_DISABLED")


async def test_the_header_the_subprotocol_and_api_keys_all_authenticate(live: LiveServer) -> None:
    alice = await live.users.create()
    by_header, welcome = await live.open(headers=alice.headers)
    assert welcome["type"] == "welcome" and welcome["user_id"] == alice.id
    assert by_header.ws.subprotocol is None

    # What a browser does: the token rides in the subprotocol list, never in the URL.
    by_protocol, welcome = await live.open(
        subprotocols=[SUBPROTOCOL, f"bearer.{alice.access_token}"]
    )
    assert welcome["type"] == "welcome" and welcome["user_id"] == alice.id
    assert by_protocol.ws.subprotocol == SUBPROTOCOL

    created = await live.http.post(
        "/api/v1/auth/api-keys", json={"name": "stream"}, headers=alice.headers
    )
    key = assert_ok(created, 201)
    by_key = await live.connect(key["key"])
    assert by_key.welcome["user_id"] == alice.id
    [event_id] = await live.record(owner_id=alice.id, bot_id=3)
    assert await by_key.events_until(event_id) == [event_id]


async def test_revoking_a_credential_ends_its_open_streams(
    live: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(connection, "HEARTBEAT_SECONDS", 0.1)
    monkeypatch.setattr(connection, "REVALIDATE_SECONDS", 0.2)
    alice = await live.users.create()
    bob = await live.users.create()
    alice_ws = await live.connect(alice.access_token)
    bob_ws = await live.connect(bob.access_token)
    key = assert_ok(
        await live.http.post("/api/v1/auth/api-keys", json={"name": "k"}, headers=bob.headers),
        201,
    )
    bob_key_ws = await live.connect(key["key"])

    assert_ok(await live.http.post("/api/v1/auth/logout", headers=alice.headers))
    assert await alice_ws.closed(within=3) == (4401, "SESSION_REVOKED")
    revoked = await live.http.delete(f"/api/v1/auth/api-keys/{key['id']}", headers=bob.headers)
    assert_ok(revoked)
    assert await bob_key_ws.closed(within=3) == (4401, "INVALID_TOKEN")

    # Bob's session is still good: his stream goes on.
    await asyncio.sleep(0.5)
    [event_id] = await live.record(owner_id=bob.id, bot_id=1)
    assert (await bob_ws.next("event"))["event"]["id"] == event_id


async def test_at_most_fifty_connections_per_user(live: LiveServer) -> None:
    alice = await live.users.create()
    bob = await live.users.create()
    clients = [await live.connect(alice.access_token) for _ in range(50)]

    error, code, reason = await live.refused(token=alice.access_token)
    assert (code, reason, error["code"]) == (4429, "TOO_MANY_CONNECTIONS", "TOO_MANY_CONNECTIONS")
    assert error["details"] == {"limit": 50}
    # Another user is not affected.
    await live.connect(bob.access_token)

    listed = assert_ok(await live.http.get(CONNECTIONS, headers=alice.headers))
    assert listed["total"] == 50 and listed["max_per_user"] == 50

    # Closing one frees a place (once the server has seen the close).
    await clients[0].ws.close()
    async with asyncio.timeout(3):
        while True:
            if assert_ok(await live.http.get(CONNECTIONS, headers=alice.headers))["total"] == 49:
                break
            await asyncio.sleep(0.05)
    await live.connect(alice.access_token)
    _, code, _ = await live.refused(token=alice.access_token)
    assert code == 4429


async def test_malformed_messages_get_an_error_and_oversized_ones_close(live: LiveServer) -> None:
    alice = await live.users.create()
    client = await live.connect(alice.access_token)

    await client.send("{not json")
    assert (await client.next("error"))["code"] == "INVALID_JSON"
    await client.send({"type": "shout"})
    assert (await client.next("error"))["code"] == "INVALID_MESSAGE"
    await client.send({"type": "subscribe", "bot_ids": "all"})
    error = await client.next("error")
    assert error["code"] == "INVALID_MESSAGE"
    assert [f["field"] for f in error["details"]["fields"]] == ["subscribe.bot_ids"]
    await client.send({"type": "resume", "after_id": 1, "extra": True})
    assert (await client.next("error"))["code"] == "INVALID_MESSAGE"
    await client.send(b'{"type": "ping"}')
    assert (await client.next("error"))["code"] == "INVALID_MESSAGE"

    # Still open and working.
    await client.send({"type": "ping"})
    await client.next("pong")
    [event_id] = await live.record(owner_id=alice.id, bot_id=1)
    assert (await client.next("event"))["event"]["id"] == event_id

    await client.send({"type": "subscribe", "types": ["x" * 20_000]})
    assert await client.closed() == (1009, "MESSAGE_TOO_BIG")


async def test_a_flood_of_client_messages_is_throttled(live: LiveServer) -> None:
    alice = await live.users.create()
    client = await live.connect(alice.access_token)
    for _ in range(40):
        await client.send({"type": "ping"})
    answers = await client.quiet()
    kinds = [m["type"] for m in answers]
    assert 20 <= kinds.count("pong") <= 22, kinds
    assert [m["code"] for m in answers if m["type"] == "error"] == ["RATE_LIMITED"]
    await asyncio.sleep(1)
    await client.send({"type": "ping"})
    await client.next("pong")


async def test_connections_list_own_for_users_and_all_for_admins(live: LiveServer) -> None:
    alice = await live.users.create()
    bob = await live.users.create()
    admin = await live.users.create(Role.admin)
    alice_ws = [await live.connect(alice.access_token) for _ in range(2)]
    bob_ws = await live.connect(bob.access_token, bot_id=5)
    await alice_ws[1].send({"type": "subscribe", "types": ["trade.exit"]})
    await alice_ws[1].next("subscribed")

    assert_error(await live.http.get(CONNECTIONS), 401)
    mine = assert_ok(await live.http.get(CONNECTIONS, headers=alice.headers))
    assert mine["scope"] == "process" and mine["total"] == 2
    assert [c["id"] for c in mine["items"]] == [c.connection_id for c in alice_ws]
    first, second = mine["items"]
    assert {first["user_id"], second["user_id"]} == {alice.id}
    assert first["username"] == alice.username and first["client_address"] == "127.0.0.1"
    assert (first["types"], second["types"]) == (None, ["trade.exit"])
    assert first["server"].endswith(f":{__import__('os').getpid()}")

    theirs = assert_ok(await live.http.get(CONNECTIONS, headers=bob.headers))
    assert [(c["id"], c["bot_ids"]) for c in theirs["items"]] == [(bob_ws.connection_id, [5])]

    everyone = assert_ok(await live.http.get(CONNECTIONS, headers=admin.headers))
    assert {c["user_id"] for c in everyone["items"]} == {alice.id, bob.id}
    assert everyone["total"] == 3
    page = assert_ok(
        await live.http.get(CONNECTIONS, params={"limit": 1, "offset": 2}, headers=admin.headers)
    )
    assert [c["id"] for c in page["items"]] == [bob_ws.connection_id] and page["total"] == 3

    # The protocol is documented where OpenAPI can hold it.
    spec = (await live.http.get("/openapi.json")).json()
    description = spec["paths"][CONNECTIONS]["get"]["description"]
    for documented in ("resume", "heartbeat", "4401", "4429", "after_id", "bearer."):
        assert documented in description


async def test_admin_broadcasts_reach_everyone_connected(live_db: LiveServer) -> None:
    admin = await live_db.users.create(Role.admin)
    trader = await live_db.users.create()
    viewer = await live_db.users.create(Role.viewer)
    admin_ws = await live_db.connect(admin.access_token)
    trader_ws = await live_db.connect(trader.access_token)
    # A filter narrows bot events, not announcements.
    viewer_ws = await live_db.connect(viewer.access_token, type="trade.exit", bot_id=1)
    cursor = viewer_ws.welcome["last_event_id"] or 0

    body = {"message": "Maintenance at 18:00 UTC", "severity": "warning"}
    assert_error(await live_db.http.post(BROADCAST, json=body), 401)
    for user in (trader, viewer):
        denied = await live_db.http.post(BROADCAST, json=body, headers=user.headers)
        assert_error(denied, 403, "INSUFFICIENT_ROLE")
    for bad in ({"message": "  "}, {"message": "x" * 1001}, {**body, "severity": "panic"}, {}):
        assert_error(await live_db.http.post(BROADCAST, json=bad, headers=admin.headers), 422)

    sent = assert_ok(await live_db.http.post(BROADCAST, json=body, headers=admin.headers), 202)
    assert (sent["type"], sent["owner_id"], sent["bot_id"]) == ("broadcast", None, None)
    assert sent["payload"] == {**body, "sender": admin.username}
    for client in (admin_ws, trader_ws, viewer_ws):
        message = await client.next("broadcast")
        assert (message["message"], message["severity"]) == (body["message"], "warning")
        assert message["event"]["id"] == sent["id"]

    # Someone who was away gets it on reconnecting, and the admin's action is audited.
    again = await live_db.connect(viewer.access_token, after_id=cursor)
    assert (await again.next("broadcast"))["event"]["id"] == sent["id"]
    assert (await again.next("resumed"))["count"] == 1
    audit = assert_ok(
        await live_db.http.get(
            "/api/v1/audit", params={"action": "broadcast.send"}, headers=admin.headers
        )
    )
    [entry] = audit["items"]
    assert entry["resource_id"] == str(sent["id"]) and entry["actor_id"] == admin.id

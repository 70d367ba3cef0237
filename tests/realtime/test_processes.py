"""Several API processes sharing Redis: an event recorded by one reaches clients of the other,
and the connection list and the per-user limit span them all."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from core_server.auth.models import Role
from core_server.auth.principal import Principal
from core_server.core.app import create_application
from core_server.core.database import utcnow
from core_server.realtime import registry as registry_module
from core_server.realtime.registry import ConnectionRegistry
from core_server.realtime.schemas import ConnectionRead
from tests.conftest import REDIS_URL, make_settings
from tests.helpers import assert_ok
from tests.processes import ServerPool, server_env
from tests.realtime.support import Endpoint, WsClient, live_server

pytestmark = pytest.mark.redis

PASSWORD = "Str0ng-Passw0rd!"
CONNECTIONS = "/api/v1/ws/connections"


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[ServerPool]:
    with ServerPool(tmp_path) as pool:
        yield pool


async def token(http: httpx.AsyncClient, base_url: str, username: str) -> str:
    login = await http.post(
        f"{base_url}/api/v1/auth/login", json={"username": username, "password": PASSWORD}
    )
    return str(assert_ok(login)["access_token"])


async def test_events_and_connections_travel_between_processes(
    tmp_path: Path, servers: ServerPool
) -> None:
    env = server_env(
        tmp_path / "data",
        REDIS_URL=REDIS_URL,
        RATE_LIMIT_AUTHENTICATED="100000",
        RATE_LIMIT_ANONYMOUS="100000",
    )
    started = [servers.spawn_serve(env) for _ in range(2)]
    for server in started:
        server.wait_healthy()
    a, b = started

    async with httpx.AsyncClient(timeout=20) as http:
        registered = await http.post(
            f"{a.base_url}/api/v1/auth/register",
            json={"username": "boss", "email": "boss@example.com", "password": PASSWORD},
        )
        assert_ok(registered, 201)
        admin_token = await token(http, a.base_url, "boss")
        admin_headers = {"Authorization": f"Bearer {admin_token}"}
        created = await http.post(
            f"{a.base_url}/api/v1/users",
            json={
                "username": "alice",
                "email": "alice@example.com",
                "password": PASSWORD,
                "role": "trader",
            },
            headers=admin_headers,
        )
        alice_id = assert_ok(created, 201)["id"]
        alice_token = await token(http, b.base_url, "alice")
        alice_headers = {"Authorization": f"Bearer {alice_token}"}

        on_a, on_b = Endpoint(base_url=a.base_url), Endpoint(base_url=b.base_url)
        async with on_a.stack, on_b.stack:
            admin_ws = await on_a.connect(admin_token)
            alice_ws = await on_b.connect(alice_token)

            # Recorded and committed by process A, delivered by B to its client.
            body = {"message": "Deploying in 5 minutes", "severity": "info"}
            sent = assert_ok(
                await http.post(
                    f"{a.base_url}/api/v1/ws/broadcast", json=body, headers=admin_headers
                ),
                202,
            )
            for client in (alice_ws, admin_ws):
                message = await client.next("broadcast")
                assert message["event"]["id"] == sent["id"]
                assert message["message"] == body["message"]

            # The admin, asking process B, sees the connection held by A too.
            listed = assert_ok(await http.get(f"{b.base_url}{CONNECTIONS}", headers=admin_headers))
            assert listed["scope"] == "cluster"
            servers_by_id = {c["id"]: c["server"] for c in listed["items"]}
            assert set(servers_by_id) == {admin_ws.connection_id, alice_ws.connection_id}
            assert servers_by_id[admin_ws.connection_id] != servers_by_id[alice_ws.connection_id]
            # Alice, asking A, sees only her own connection, held by B.
            hers = assert_ok(await http.get(f"{a.base_url}{CONNECTIONS}", headers=alice_headers))
            assert [(c["id"], c["user_id"]) for c in hers["items"]] == [
                (alice_ws.connection_id, alice_id)
            ]

            # Fifty per user across both processes: 1 + 24 on B, 25 on A.
            extra: list[WsClient] = []
            for n in range(49):
                extra.append(await (on_a if n % 2 == 0 else on_b).connect(alice_token))
            for where in (on_a, on_b):
                error, code, _ = await where.refused(token=alice_token)
                assert (code, error["code"]) == (4429, "TOO_MANY_CONNECTIONS")
            # The admin's own connections are counted apart.
            await on_b.connect(admin_token)

            await extra[1].ws.close()  # one on B
            async with asyncio.timeout(5):
                while True:
                    count = assert_ok(
                        await http.get(f"{a.base_url}{CONNECTIONS}", headers=alice_headers)
                    )["total"]
                    if count == 49:
                        break
                    await asyncio.sleep(0.05)
            await on_a.connect(alice_token)

    # The servers accepted every connection with ?token= and logged none of the tokens.
    for server in (a, b):
        log = server.log()
        assert '"WebSocket /api/v1/ws/bots?token=redacted" [accepted]' in log
        assert admin_token not in log and alice_token not in log


@dataclass
class Vanished:
    """A connection of a process that died without closing it: nobody refreshes its entry."""

    id: str
    user_id: int

    def info(self) -> ConnectionRead:
        return ConnectionRead(
            id=self.id,
            user_id=self.user_id,
            username="ghost",
            connected_at=utcnow(),
            client_address=None,
            server="gone:1",
            bot_ids=None,
            types=None,
            events_sent=0,
            dropped=0,
            last_event_id=None,
        )


async def die_with_connections(prefix: str, user_id: int) -> None:
    """Another process (its own event loop and Redis client) registers 49 connections of the
    user, then ends without closing them: its refresher dies with its loop."""
    redis = Redis.from_url(REDIS_URL)
    try:
        elsewhere = ConnectionRegistry(redis, prefix)
        for n in range(49):
            await elsewhere.add(Vanished(f"ghost-{n}", user_id))
    finally:
        await redis.aclose()


async def test_entries_are_refreshed_while_open_and_expire_when_their_process_dies(
    tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(registry_module, "REFRESH_SECONDS", 0.2)
    monkeypatch.setattr(registry_module, "ENTRY_TTL_SECONDS", 1.0)
    # No rate limiter: its Redis storage is never closed at shutdown (a ResourceWarning here).
    settings = make_settings(
        tmp_path / "data", sqlite_url, redis_url=REDIS_URL, rate_limit_enabled=False
    )
    async with live_server(create_application(settings=settings)) as live:
        alice = await live.users.create()
        mine = await live.connect(alice.access_token)
        await asyncio.to_thread(asyncio.run, die_with_connections(settings.redis_prefix, alice.id))
        _, code, _ = await live.refused(token=alice.access_token)
        assert code == 4429

        await asyncio.sleep(1.5)  # past the entries' lifetime
        listed = assert_ok(await live.http.get(CONNECTIONS, headers=alice.headers))
        assert [c["id"] for c in listed["items"]] == [mine.connection_id]
        # What any other process sees in Redis: the open connection, kept fresh, and no ghosts.
        outside = ConnectionRegistry(live.app.state.redis, settings.redis_prefix)
        seen = await outside.page(
            Principal(user_id=alice.id, username=alice.username, role=Role.trader),
            limit=100,
            offset=0,
        )
        assert [c.id for c in seen.items] == [mine.connection_id]
        await live.connect(alice.access_token)

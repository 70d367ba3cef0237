"""The live stream over a real socket: who receives which event, replays after a reconnect,
filters, heartbeats and slow clients."""

from __future__ import annotations

import asyncio

import pytest

from core_server.auth.models import Role
from core_server.realtime import bus as bus_module
from core_server.realtime import connection
from tests.realtime.support import LiveServer

EVENT_FIELDS = {"id", "type", "bot_id", "owner_id", "created_at", "summary", "payload"}


async def test_each_user_receives_the_events_of_their_own_bots(live_db: LiveServer) -> None:
    alice = await live_db.users.create()
    bob = await live_db.users.create()
    admin = await live_db.users.create(Role.admin)
    alice_ws = await live_db.connect(alice.access_token)
    bob_ws = await live_db.connect(bob.access_token)
    admin_ws = await live_db.connect(admin.access_token)
    assert (alice_ws.welcome["user_id"], alice_ws.welcome["username"]) == (alice.id, alice.username)
    assert alice_ws.welcome["heartbeat_seconds"] == 15

    [a1] = await live_db.record(owner_id=alice.id, bot_id=11)
    [b1] = await live_db.record(owner_id=bob.id, bot_id=22, type="trade.exit")
    [a2] = await live_db.record(owner_id=alice.id, bot_id=11, type="bot.status")
    [b2] = await live_db.record(owner_id=bob.id, bot_id=22)

    # The bus delivers in order, so each user's own last event closes their sequence.
    assert await alice_ws.events_until(a2) == [a1, a2]
    assert await bob_ws.events_until(b2) == [b1, b2]
    assert await admin_ws.events_until(b2) == [a1, b1, a2, b2]

    # The documented shape: the same object as the activity feed.
    feed = (await live_db.http.get("/api/v1/activity", headers=bob.headers)).json()["data"]
    [next_event] = await live_db.record(owner_id=bob.id, bot_id=22, type="trade.exit")
    message = await bob_ws.next("event")
    assert set(message) == {"type", "event"} and set(message["event"]) == EVENT_FIELDS
    event = message["event"]
    assert (event["id"], event["type"], event["bot_id"], event["owner_id"]) == (
        next_event,
        "trade.exit",
        22,
        bob.id,
    )
    assert event["payload"] == {"pair": "BTC/USDT", "n": 0}
    assert event["created_at"].endswith("Z")
    assert [item["id"] for item in feed["items"]] == [b2, b1]


async def test_reconnecting_with_after_id_replays_exactly_what_was_missed(
    live_db: LiveServer,
) -> None:
    alice = await live_db.users.create()
    bob = await live_db.users.create()
    first = await live_db.connect(alice.access_token)
    seen = await live_db.record(owner_id=alice.id, bot_id=1, count=3)
    assert await first.events_until(seen[-1]) == seen
    await first.ws.close()

    missed = []
    for n in range(6):
        owner = alice if n % 2 == 0 else bob
        ids = await live_db.record(owner_id=owner.id, bot_id=1 if owner is alice else 2)
        if owner is alice:
            missed += ids
    [broadcast] = await live_db.record(owner_id=None, type="broadcast")

    again = await live_db.connect(alice.access_token, after_id=seen[-1])
    replayed = [await again.recv() for _ in range(len(missed) + 1)]
    assert [m["event"]["id"] for m in replayed] == [*missed, broadcast]
    assert [m["type"] for m in replayed] == ["event"] * len(missed) + ["broadcast"]
    resumed = await again.next("resumed")
    assert resumed == {
        "type": "resumed",
        "after_id": seen[-1],
        "count": len(missed) + 1,
        "last_event_id": broadcast,
        "more": False,
    }
    # Then the live stream, with nothing repeated.
    [live_one] = await live_db.record(owner_id=alice.id, bot_id=1)
    assert await again.events_until(live_one) == [live_one]

    # Asking again on the open connection sends only what this connection has not sent:
    # the two events the first connection received.
    await again.send({"type": "resume", "after_id": seen[0]})
    assert await again.events_until(seen[2]) == seen[1:]
    resumed = await again.next("resumed")
    assert (resumed["count"], resumed["more"], resumed["last_event_id"]) == (2, False, live_one)


async def test_no_gap_and_no_duplicate_where_the_replay_meets_the_live_stream(
    live_db: LiveServer,
) -> None:
    alice = await live_db.users.create()
    [cursor] = await live_db.record(owner_id=alice.id, bot_id=1)
    # A long replay, so that writes land while it runs.
    before = await live_db.record(owner_id=alice.id, bot_id=1, count=600)
    replay_over = asyncio.Event()

    async def keep_writing() -> list[int]:
        """One event per transaction from before the connection until after its replay."""
        written: list[int] = []
        while not replay_over.is_set() or len(written) < 5:
            written += await live_db.record(owner_id=alice.id, bot_id=1)
            await asyncio.sleep(0)
        return written

    writer = asyncio.create_task(keep_writing())
    client = await live_db.connect(alice.access_token, after_id=cursor)
    received: list[int] = []
    async with asyncio.timeout(10):
        while (message := await client.recv())["type"] != "resumed":
            assert message["type"] == "event", message
            received.append(message["event"]["id"])
        replay_over.set()
        during = await writer
        expected = [*before, *during]
        while set(received) < set(expected):
            message = await client.recv()
            assert message["type"] in ("event", "heartbeat"), message
            if message["type"] == "event":
                received.append(message["event"]["id"])
    assert sorted(received) == expected, "every event exactly once"
    assert await client.quiet() == []


async def test_filters_from_the_url_and_from_subscribe(live: LiveServer) -> None:
    alice = await live.users.create()
    by_url = await live.connect(alice.access_token, bot_id=[7, 8], type="trade.exit")
    assert (by_url.welcome["bot_ids"], by_url.welcome["types"]) == ([7, 8], ["trade.exit"])
    later = await live.connect(alice.access_token)
    await later.send({"type": "subscribe", "bot_ids": [7], "types": None})
    assert await later.next("subscribed") == {
        "type": "subscribed",
        "bot_ids": [7],
        "types": None,
    }

    await live.record(owner_id=alice.id, bot_id=7, type="trade.entry")
    [exit_7] = await live.record(owner_id=alice.id, bot_id=7, type="trade.exit")
    await live.record(owner_id=alice.id, bot_id=9, type="trade.exit")
    [exit_8] = await live.record(owner_id=alice.id, bot_id=8, type="trade.exit")
    [entry_7] = await live.record(owner_id=alice.id, bot_id=7, type="trade.entry")

    assert await by_url.events_until(exit_8) == [exit_7, exit_8]
    assert await later.events_until(entry_7) == [entry_7 - 4, exit_7, entry_7]

    # Back to everything.
    await later.send({"type": "subscribe"})
    assert (await later.next("subscribed"))["bot_ids"] is None
    [other_bot] = await live.record(owner_id=alice.id, bot_id=9)
    assert await later.events_until(other_bot) == [other_bot]


async def test_heartbeats_and_pings(live: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connection, "HEARTBEAT_SECONDS", 0.2)
    alice = await live.users.create()
    client = await live.connect(alice.access_token)
    assert client.welcome["heartbeat_seconds"] == 0.2
    first = await client.recv(within=2)
    second = await client.recv(within=2)
    assert first["type"] == second["type"] == "heartbeat"
    assert first["time"] < second["time"] and first["last_event_id"] is None

    [event_id] = await live.record(owner_id=alice.id, bot_id=1)
    await client.events_until(event_id)
    assert (await client.next("heartbeat", within=2))["last_event_id"] == event_id

    await client.send({"type": "ping"})
    assert "time" in await client.next("pong")


async def test_a_slow_client_is_told_what_it_lost_and_gets_it_back(
    live: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bus_module, "QUEUE_SIZE", 5)
    alice = await live.users.create()
    client = await live.connect(alice.access_token)
    cursor = client.welcome["last_event_id"]

    # Twenty events published at once overflow a five-event queue before it is read.
    ids = await live.record(owner_id=alice.id, bot_id=1, count=20)
    dropped = await client.next("dropped")
    assert dropped["count"] == dropped["total"] == 15
    assert dropped["resume_after_id"] == (cursor or 0)
    assert await client.events_until(ids[-1]) == ids[-5:]

    await client.send({"type": "resume", "after_id": dropped["resume_after_id"]})
    replayed = []
    while (message := await client.recv())["type"] == "event":
        replayed.append(message["event"]["id"])
    assert replayed == ids[:15]
    assert message["type"] == "resumed" and message["count"] == 15

    listed = (await live.http.get("/api/v1/ws/connections", headers=alice.headers)).json()
    [mine] = listed["data"]["items"]
    assert (mine["dropped"], mine["events_sent"], mine["last_event_id"]) == (15, 20, ids[-1])

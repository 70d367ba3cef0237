"""Redis going away between two API processes: events recorded by one while Redis is down cannot
reach the other's clients by pub/sub, so once Redis is back the other process replays them from
the database. The client misses nothing and needs to do nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from core_server.core.app import create_application
from tests.conftest import make_settings
from tests.processes import PrivateRedis
from tests.realtime.support import live_server

pytestmark = pytest.mark.redis


async def test_a_client_of_another_process_gets_the_events_of_a_redis_outage(
    data_dir: Path, sqlite_url: str, private_redis: PrivateRedis
) -> None:
    settings = make_settings(data_dir, sqlite_url, redis_url=private_redis.url)
    recorder_app = create_application(settings=settings)
    relay_app = create_application(settings=settings)
    async with live_server(recorder_app) as recorder, live_server(relay_app) as relay:
        alice = await recorder.users.create()
        client = await relay.connect(alice.access_token)
        [before] = await recorder.record(owner_id=alice.id, bot_id=7)
        assert await client.events_until(before) == [before]

        private_redis.kill()
        during = await recorder.record(owner_id=alice.id, bot_id=7, count=3)
        # Redis is down: nothing reaches the other process.
        assert [m for m in await client.quiet(1.0) if m["type"] == "event"] == []

        private_redis.start()
        # The relay's channel comes back within its back-off (at most a few seconds here) and
        # replays what it missed, then says so.
        replayed = await client.events_until(during[-1], within=30)
        assert replayed == during
        resumed = await client.next("resumed")
        assert resumed["count"] == 3 and resumed["more"] is False

        # And live delivery works again.
        [after] = await recorder.record(owner_id=alice.id, bot_id=7)
        assert await client.events_until(after, within=10) == [after]

"""A server killed with SIGKILL and started again finds its bots: still running, adopted, not
started twice. Also: the demo fleet of a fresh install, with the first registration still open."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.bots.test_lifecycle import process_alive
from tests.processes import ServerPool, free_port, server_env

pytestmark = pytest.mark.freqtrade

PASSWORD = "Restart-Passw0rd!"


def wait_for(check: Any, seconds: float, what: str) -> Any:
    deadline = time.monotonic() + seconds
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.5)
    raise AssertionError(f"{what} did not happen within {seconds} s (last: {last!r})")


def bots(base_url: str, token: str) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{base_url}/api/v1/bots", headers={"Authorization": f"Bearer {token}"}, timeout=20
    )
    response.raise_for_status()
    items: list[dict[str, Any]] = response.json()["data"]["items"]
    return items


def login(base_url: str) -> str:
    response = httpx.post(
        f"{base_url}/api/v1/auth/login",
        json={"username": "admin", "password": PASSWORD},
        timeout=20,
    )
    response.raise_for_status()
    token: str = response.json()["data"]["access_token"]
    return token


def test_killed_server_adopts_its_running_bots(tmp_path: Path) -> None:
    env = server_env(
        tmp_path / "data",
        DEMO_FLEET="true",
        SIMULATOR_ENABLED="true",
        SIMULATOR_PORT=str(free_port()),
        RATE_LIMIT_AUTHENTICATED="100000",
        RATE_LIMIT_ANONYMOUS="100000",
    )
    port = free_port()
    pids: list[int] = []
    with ServerPool(tmp_path) as pool:
        try:
            first = pool.start(env, port=port)
            # The demo account does not close the first registration.
            registered = httpx.post(
                f"{first.base_url}/api/v1/auth/register",
                json={"username": "admin", "email": "admin@example.com", "password": PASSWORD},
                timeout=20,
            )
            assert registered.status_code == 201, registered.text
            assert registered.json()["data"]["role"] == "admin"
            token = login(first.base_url)

            def all_running() -> list[dict[str, Any]] | None:
                items = bots(first.base_url, token)
                names = sorted(b["name"] for b in items)
                ready = names == ["demo-alpha", "demo-beta"] and all(
                    b["status"] == "running" for b in items
                )
                return items if ready else None

            before = wait_for(all_running, 120, "the demo fleet running")
            pids = [b["pid"] for b in before]

            first.process.send_signal(signal.SIGKILL)
            first.wait_exit(10)
            assert all(process_alive(pid) for pid in pids), "bots died with the server"

            second = pool.start(env, port=port)

            def adopted() -> list[dict[str, Any]] | None:
                items = bots(second.base_url, token)
                same = sorted(b["pid"] for b in items) == sorted(pids)
                return items if same and all(b["status"] == "running" for b in items) else None

            after = wait_for(adopted, 60, "the bots adopted by the new server")
            assert all(b["restart_count"] == 0 for b in after)
            # And they still answer through the new server.
            for bot in after:
                profit = httpx.get(
                    f"{second.base_url}/api/v1/bots/{bot['id']}/profit",
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=20,
                )
                assert profit.status_code == 200, profit.text
            # Now the server and a bot die together: the bot comes back, the other is adopted.
            victim, survivor = after
            second.process.send_signal(signal.SIGKILL)
            os.killpg(victim["pid"], signal.SIGKILL)
            second.wait_exit(10)
            wait_for(lambda: not process_alive(victim["pid"]), 10, "the bot dying")
            third = pool.start(env, port=port)

            def recovered() -> list[dict[str, Any]] | None:
                items = {b["id"]: b for b in bots(third.base_url, token)}
                back, kept = items[victim["id"]], items[survivor["id"]]
                ok = (
                    back["status"] == "running"
                    and back["pid"] not in (None, victim["pid"])
                    and kept["status"] == "running"
                    and kept["pid"] == survivor["pid"]
                )
                return list(items.values()) if ok else None

            after = wait_for(recovered, 120, "the dead bot restarted, the live one adopted")
            pids = [b["pid"] for b in after]
            for bot in after:
                stopped = httpx.post(
                    f"{third.base_url}/api/v1/bots/{bot['id']}/stop",
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=20,
                )
                assert stopped.status_code == 202
            wait_for(
                lambda: all(b["status"] == "stopped" for b in bots(third.base_url, token)),
                40,
                "the bots stopping",
            )
            assert not any(process_alive(pid) for pid in pids)
        finally:
            for pid in pids:  # never leave a bot behind, whatever failed
                if process_alive(pid):
                    os.killpg(pid, signal.SIGKILL)

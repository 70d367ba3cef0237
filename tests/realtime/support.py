"""A real uvicorn server in the test's own event loop (so a test can record events in the
server process and shorten its timers), and a small client over the `websockets` library."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
import uvicorn
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from core_server.activity import service as activity
from tests.conftest import free_port
from tests.helpers import UserFactory

WS_PATH = "/api/v1/ws/bots"
TIMEOUT = 5.0


@asynccontextmanager
async def uvicorn_server(app: FastAPI) -> AsyncIterator[str]:
    """Serve `app` (whose lifespan the caller runs) on a free port; yields the base URL."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, lifespan="off", log_config=None, log_level="warning"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(10):
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


class WsClient:
    """One connection; `welcome` holds the server's first message."""

    def __init__(self, ws: ClientConnection, welcome: dict[str, Any]) -> None:
        self.ws = ws
        self.welcome = welcome

    @property
    def connection_id(self) -> str:
        return str(self.welcome["connection_id"])

    async def send(self, message: Any) -> None:
        await self.ws.send(message if isinstance(message, str | bytes) else json.dumps(message))

    async def recv(self, within: float = TIMEOUT) -> dict[str, Any]:
        async with asyncio.timeout(within):
            message: dict[str, Any] = json.loads(await self.ws.recv())
            return message

    async def next(self, kind: str, within: float = TIMEOUT) -> dict[str, Any]:
        """The next message of this type; heartbeats on the way are skipped, anything else
        fails the test."""
        async with asyncio.timeout(within):
            while True:
                message = await self.recv(within)
                if message["type"] == kind:
                    return message
                assert message["type"] == "heartbeat", f"expected {kind}, got {message}"

    async def events_until(self, last_id: int, within: float = TIMEOUT) -> list[int]:
        """Ids of the `event` messages up to and including `last_id`, in arrival order;
        heartbeats are skipped, anything else fails the test."""
        ids: list[int] = []
        async with asyncio.timeout(within):
            while not ids or ids[-1] != last_id:
                message = await self.recv(within)
                if message["type"] == "heartbeat":
                    continue
                assert message["type"] == "event", message
                ids.append(message["event"]["id"])
        return ids

    async def quiet(self, seconds: float = 0.3) -> list[dict[str, Any]]:
        """Whatever arrives until nothing has for `seconds`."""
        messages = []
        while True:
            try:
                messages.append(await self.recv(seconds))
            except TimeoutError:
                return messages

    async def closed(self, within: float = TIMEOUT) -> tuple[int, str]:
        """Wait for the server to close; the close code and reason (messages are skipped)."""
        async with asyncio.timeout(within):
            try:
                while True:
                    await self.ws.recv()
            except ConnectionClosed as closed:
                assert closed.rcvd is not None, "closed without a close frame"
                return closed.rcvd.code, closed.rcvd.reason


@dataclass(kw_only=True)
class Endpoint:
    """Where clients connect; every connection is closed when `stack` closes."""

    base_url: str
    stack: AsyncExitStack = field(default_factory=AsyncExitStack)

    def ws_url(self, **params: Any) -> str:
        query = urlencode(
            [(k, v) for k, value in params.items() for v in _values(value) if v is not None]
        )
        return self.base_url.replace("http://", "ws://") + WS_PATH + (f"?{query}" if query else "")

    async def open(
        self,
        *,
        headers: dict[str, str] | None = None,
        subprotocols: Sequence[str] | None = None,
        **params: Any,
    ) -> tuple[WsClient, dict[str, Any]]:
        """Connect (closed at the end of the test) and return the client with its first
        message, whatever it is."""
        ws = await self.stack.enter_async_context(
            connect(
                self.ws_url(**params),
                additional_headers=headers,
                subprotocols=[Subprotocol(p) for p in subprotocols] if subprotocols else None,
                open_timeout=TIMEOUT,
                proxy=None,
            )
        )
        client = WsClient(ws, {})
        first = await client.recv()
        return client, first

    async def connect(self, token: str | None = None, **params: Any) -> WsClient:
        """Connect with `?token=` and expect the welcome."""
        client, welcome = await self.open(token=token, **params)
        assert welcome["type"] == "welcome", welcome
        client.welcome = welcome
        return client

    async def refused(self, **params: Any) -> tuple[dict[str, Any], int, str]:
        """Connect, expecting an error and a close: (error message, close code, reason)."""
        client, error = await self.open(**params)
        assert error["type"] == "error", error
        code, reason = await client.closed()
        return error, code, reason


@dataclass(kw_only=True)
class LiveServer(Endpoint):
    """A server running in this process, so a test can act inside it."""

    app: FastAPI
    http: httpx.AsyncClient

    @property
    def users(self) -> UserFactory:
        return UserFactory(self.app, self.http)

    async def record(
        self,
        *,
        owner_id: int | None,
        bot_id: int | None = None,
        type: str = "trade.entry",  # noqa: A002 - the event's field name
        count: int = 1,
    ) -> list[int]:
        """Record events as the collector does (one transaction), published after commit."""
        async with self.app.state.database.transaction() as session:
            events = [
                await activity.record(
                    session,
                    self.app.state.bus,
                    type=type,
                    summary=f"{type} on bot {bot_id}",
                    owner_id=owner_id,
                    bot_id=bot_id,
                    payload={"pair": "BTC/USDT", "n": n},
                )
                for n in range(count)
            ]
        return [event.id for event in events]


def _values(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


@asynccontextmanager
async def live_server(app: FastAPI) -> AsyncIterator[LiveServer]:
    async with app.router.lifespan_context(app), uvicorn_server(app) as base_url:
        async with httpx.AsyncClient(base_url=base_url, timeout=20) as http:
            live = LiveServer(app=app, base_url=base_url, http=http)
            async with live.stack:
                yield live

"""One WebSocket client, from the handshake to the close: authentication, the live stream,
replays, heartbeats and the client's own messages (the protocol is described in router.py)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import deque
from typing import Any
from urllib.parse import parse_qsl, urlencode

from pydantic import ValidationError
from starlette.datastructures import State
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketDisconnected

from core_server.activity.schemas import EventRead
from core_server.auth.principal import Principal
from core_server.core.database import Database, utcnow
from core_server.core.errors import DomainError
from core_server.core.security import Keys
from core_server.realtime import service
from core_server.realtime.bus import EventBus, Subscription
from core_server.realtime.errors import InvalidMessage
from core_server.realtime.protocol import (
    BEARER_SUBPROTOCOL_PREFIX,
    BROADCAST_TYPE,
    CLIENT_MESSAGE,
    SUBPROTOCOL,
    BroadcastMessage,
    ClientMessage,
    CloseCode,
    ConnectParams,
    Dropped,
    ErrorMessage,
    EventFilter,
    EventMessage,
    Heartbeat,
    Ping,
    Pong,
    Resume,
    Resumed,
    ServerMessage,
    Subscribe,
    Subscribed,
    Welcome,
    validation_details,
)
from core_server.realtime.registry import ConnectionRegistry
from core_server.realtime.schemas import ConnectionRead

logger = logging.getLogger(__name__)

# Module constants rather than settings: a test shortens them with monkeypatch.
HEARTBEAT_SECONDS = 15.0
# How often a connection's credential is checked again: a revoked session, a disabled account
# or an expired token ends the stream within this time.
REVALIDATE_SECONDS = 60.0
MAX_MESSAGE_BYTES = 16 * 1024
REPLAY_PAGE = 1000
# Client messages: a burst of this many, then this many per second.
MESSAGE_BURST = 20
MESSAGE_RATE = 2.0
# Ids sent on this connection, remembered so a replay never repeats what the stream delivered.
DELIVERED_MEMORY = 10_000
# After a Redis outage, replay from this many ids before the newest one sent: concurrent
# transactions commit their events out of id order. Those already sent are skipped.
GAP_LOOK_BACK = 200


class CloseConnection(Exception):
    def __init__(self, code: int, reason: str, error: ErrorMessage | None = None) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.error = error

    @classmethod
    def for_error(cls, exc: DomainError) -> CloseConnection:
        message = ErrorMessage(code=exc.code, message=exc.message, details=exc.details)
        return cls(CloseCode.for_error(exc), exc.code, message)


def registry_for(state: State) -> ConnectionRegistry:
    """One registry per application, made on first use."""
    registry: ConnectionRegistry | None = getattr(state, "ws_registry", None)
    if registry is None:
        registry = ConnectionRegistry(state.redis, state.settings.redis_prefix)
        state.ws_registry = registry
    return registry


def offered_credential(websocket: WebSocket) -> str | None:
    """The token from the Authorization header, the `bearer.` subprotocol or `?token=`."""
    scheme, _, token = websocket.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    for offered in websocket.scope.get("subprotocols", []):
        if offered.startswith(BEARER_SUBPROTOCOL_PREFIX):
            return str(offered[len(BEARER_SUBPROTOCOL_PREFIX) :]) or None
    return websocket.query_params.get("token") or None


def redact_credential(websocket: WebSocket) -> None:
    """Blank `?token=` in the connection's scope once it has been read: uvicorn writes the
    path and query of every WebSocket it accepts to its log from this same scope."""
    query = websocket.scope.get("query_string", b"").decode("latin-1")
    pairs = parse_qsl(query, keep_blank_values=True)
    if any(name == "token" for name, _ in pairs):
        redacted = [(name, "redacted" if name == "token" else value) for name, value in pairs]
        websocket.scope["query_string"] = urlencode(redacted).encode("latin-1")


def connect_params(websocket: WebSocket) -> ConnectParams:
    query = websocket.query_params
    try:
        return ConnectParams.model_validate(
            {
                "after_id": query.get("after_id"),
                "bot_ids": query.getlist("bot_id") or None,
                "types": query.getlist("type") or None,
            }
        )
    except ValidationError as exc:
        raise InvalidMessage(
            "The connection parameters are not valid.",
            code="INVALID_PARAMETERS",
            details={"fields": validation_details(exc)},
        ) from exc


async def serve(websocket: WebSocket) -> None:
    """Run one client's connection until either side ends it."""
    state = websocket.app.state
    offered = websocket.scope.get("subprotocols", [])
    subprotocol = SUBPROTOCOL if SUBPROTOCOL in offered else None
    token = offered_credential(websocket)
    redact_credential(websocket)
    try:
        params = connect_params(websocket)
        principal = await service.authenticate_token(state.database, state.keys, token)
    except DomainError as exc:
        await refuse(websocket, subprotocol, exc)
        return
    registry = registry_for(state)
    client = websocket.client
    connection = Connection(
        websocket,
        principal,
        token or "",
        database=state.database,
        keys=state.keys,
        bus=state.bus,
        server=registry.server,
        client_address=client.host if client else None,
        event_filter=EventFilter.of(params.bot_ids, params.types),
    )
    try:
        await registry.add(connection)
    except DomainError as exc:
        await refuse(websocket, subprotocol, exc)
        return
    try:
        await connection.run(subprotocol, params.after_id)
    finally:
        await registry.remove(connection)


async def refuse(websocket: WebSocket, subprotocol: str | None, exc: DomainError) -> None:
    """Accept, say why in an error message, and close with the matching code: a browser sees
    neither the status nor the body of a refused handshake, only a close code."""
    close = CloseConnection.for_error(exc)
    try:
        await websocket.accept(subprotocol=subprotocol)
        if close.error is not None:
            await websocket.send_text(close.error.model_dump_json())
        await websocket.close(close.code, close.reason)
    except (WebSocketDisconnect, RuntimeError, OSError):
        return


class Connection:
    def __init__(
        self,
        websocket: WebSocket,
        principal: Principal,
        token: str,
        *,
        database: Database,
        keys: Keys,
        bus: EventBus,
        server: str,
        client_address: str | None,
        event_filter: EventFilter,
    ) -> None:
        self.id = uuid.uuid4().hex
        self.websocket = websocket
        self.principal = principal
        self._token = token
        self.database = database
        self.keys = keys
        self.bus = bus
        self.server = server
        self.client_address = client_address
        self.filter = event_filter
        self.connected_at = utcnow()
        self.events_sent = 0
        self.last_event_id: int | None = None
        # Where this client is sure to be complete up to: the newest id when it connected,
        # then the newest id it was sent.
        self._cursor = 0
        # The oldest id this client asked to hear about after (a gap's replay stays above it).
        self._floor = 0
        self._dropped_seen = 0
        self._delivered: deque[int] = deque()
        self._delivered_ids: set[int] = set()
        self._subscription: Subscription | None = None
        # One writer at a time: a replay's check-then-send must not interleave with the stream.
        self._lock = asyncio.Lock()

    @property
    def user_id(self) -> int:
        return self.principal.user_id

    @property
    def dropped(self) -> int:
        return self._subscription.dropped if self._subscription is not None else 0

    def info(self) -> ConnectionRead:
        return ConnectionRead(
            id=self.id,
            user_id=self.principal.user_id,
            username=self.principal.username,
            connected_at=self.connected_at,
            client_address=self.client_address,
            server=self.server,
            bot_ids=self.filter.bot_id_list(),
            types=self.filter.type_list(),
            events_sent=self.events_sent,
            dropped=self.dropped,
            last_event_id=self.last_event_id,
        )

    async def run(self, subprotocol: str | None, after_id: int | None) -> None:
        # Subscribed before the newest id is read and before any replay: whatever commits from
        # here on is in the queue, and whatever committed before is in the database.
        self._subscription = self.bus.subscribe()
        try:
            await self.websocket.accept(subprotocol=subprotocol)
            newest = await service.newest_event_id(self.database)
            self._cursor = self._floor = newest or 0
            await self._send(
                Welcome(
                    connection_id=self.id,
                    user_id=self.principal.user_id,
                    username=self.principal.username,
                    role=self.principal.role.value,
                    last_event_id=newest,
                    heartbeat_seconds=HEARTBEAT_SECONDS,
                    max_message_bytes=MAX_MESSAGE_BYTES,
                    bot_ids=self.filter.bot_id_list(),
                    types=self.filter.type_list(),
                    time=utcnow(),
                )
            )
            if after_id is not None:
                await self.replay(after_id)
            await self._run_loops()
        except CloseConnection as close:
            await self._close(close)
        except (WebSocketDisconnect, WebSocketDisconnected, OSError):
            return
        except Exception:
            logger.exception("WebSocket connection %s failed", self.id)
            await self._close(CloseConnection(CloseCode.INTERNAL_ERROR, "INTERNAL_ERROR"))
        finally:
            self._subscription.close()

    async def _run_loops(self) -> None:
        tasks = [
            asyncio.create_task(self._receive_loop()),
            asyncio.create_task(self._stream_loop()),
            asyncio.create_task(self._heartbeat_loop()),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for task in done:
            error = task.exception()
            if error is not None:
                raise error

    async def _close(self, close: CloseConnection) -> None:
        try:
            if close.error is not None:
                await self._send(close.error)
            await self.websocket.close(close.code, close.reason)
        except (WebSocketDisconnect, RuntimeError, OSError):
            return

    # --- writing ---------------------------------------------------------------------------

    async def _send(self, message: ServerMessage) -> None:
        async with self._lock:
            await self._write(message)

    async def _write(self, message: ServerMessage) -> None:
        await self.websocket.send_text(message.model_dump_json())

    async def _deliver(self, event: EventRead) -> bool:
        """Send one event if this client should have it and has not had it. Hold the lock."""
        if event.id in self._delivered_ids or not self._wants(event):
            return False
        message: ServerMessage
        if event.type == BROADCAST_TYPE:
            message = BroadcastMessage(
                message=str(event.payload.get("message", event.summary)),
                severity=str(event.payload.get("severity", "info")),
                event=event,
            )
        else:
            message = EventMessage(event=event)
        await self._write(message)
        self._remember(event.id)
        return True

    def _wants(self, event: EventRead) -> bool:
        if not service.can_receive(self.principal, event):
            return False
        # An announcement reaches everyone, whatever they filter on.
        return event.type == BROADCAST_TYPE or self.filter.matches(event)

    def _remember(self, event_id: int) -> None:
        self.events_sent += 1
        self.last_event_id = max(self.last_event_id or 0, event_id)
        self._cursor = max(self._cursor, event_id)
        self._delivered.append(event_id)
        self._delivered_ids.add(event_id)
        if len(self._delivered) > DELIVERED_MEMORY:
            self._delivered_ids.discard(self._delivered.popleft())

    # --- the three loops -------------------------------------------------------------------

    async def _stream_loop(self) -> None:
        assert self._subscription is not None  # noqa: S101 - set in run()
        while True:
            event = await self._subscription.get()
            if event is None:
                # The bus lost Redis for a while: fetch what passed us by from the database,
                # looking back a little for events that committed out of id order.
                await self.replay(max(self._floor, self._cursor - GAP_LOOK_BACK))
                continue
            async with self._lock:
                dropped = self._subscription.dropped
                if dropped > self._dropped_seen:
                    # The queue lost its oldest events, all newer than what was sent so far:
                    # resuming after the newest sent id brings them back.
                    await self._write(
                        Dropped(
                            count=dropped - self._dropped_seen,
                            total=dropped,
                            resume_after_id=self._cursor,
                        )
                    )
                    self._dropped_seen = dropped
                await self._deliver(event)

    async def _heartbeat_loop(self) -> None:
        loop = asyncio.get_running_loop()
        revalidate_at = loop.time() + REVALIDATE_SECONDS
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            if loop.time() >= revalidate_at:
                await self._revalidate()
                revalidate_at = loop.time() + REVALIDATE_SECONDS
            await self._send(Heartbeat(time=utcnow(), last_event_id=self.last_event_id))

    async def _revalidate(self) -> None:
        try:
            self.principal = await service.authenticate_token(self.database, self.keys, self._token)
        except DomainError as exc:
            raise CloseConnection.for_error(exc) from exc

    async def _receive_loop(self) -> None:
        loop = asyncio.get_running_loop()
        allowance, checked = float(MESSAGE_BURST), loop.time()
        throttled = False
        while True:
            received = await self.websocket.receive()
            if received["type"] == "websocket.disconnect":
                return
            text: str | None = received.get("text")
            data: bytes | None = received.get("bytes")
            size = len(text.encode()) if text is not None else len(data or b"")
            if size > MAX_MESSAGE_BYTES:
                raise CloseConnection(CloseCode.MESSAGE_TOO_BIG, "MESSAGE_TOO_BIG")
            now = loop.time()
            allowance = min(float(MESSAGE_BURST), allowance + (now - checked) * MESSAGE_RATE)
            checked = now
            if allowance < 1:
                if not throttled:
                    throttled = True
                    await self._error(
                        "RATE_LIMITED",
                        f"At most {MESSAGE_RATE:g} messages per second; messages are ignored "
                        "until you slow down.",
                    )
                continue
            allowance -= 1
            throttled = False
            if text is None:
                await self._error("INVALID_MESSAGE", "Send JSON text frames, not binary ones.")
                continue
            await self._handle_text(text)

    async def _handle_text(self, text: str) -> None:
        try:
            message: ClientMessage = CLIENT_MESSAGE.validate_json(text)
        except ValidationError as exc:
            details = validation_details(exc)
            if any(d["type"] == "json_invalid" for d in details):
                await self._error("INVALID_JSON", "The message is not valid JSON.")
            else:
                await self._error(
                    "INVALID_MESSAGE",
                    "Expected {'type': 'ping' | 'subscribe' | 'resume', ...}.",
                    {"fields": details},
                )
            return
        if isinstance(message, Ping):
            await self._send(Pong(time=utcnow()))
        elif isinstance(message, Subscribe):
            self.filter = EventFilter.of(message.bot_ids, message.types)
            await self._send(
                Subscribed(bot_ids=self.filter.bot_id_list(), types=self.filter.type_list())
            )
        elif isinstance(message, Resume):
            await self.replay(message.after_id)

    async def _error(self, code: str, text: str, details: dict[str, Any] | None = None) -> None:
        await self._send(ErrorMessage(code=code, message=text, details=details or {}))

    async def replay(self, after_id: int) -> None:
        """Send the visible events after `after_id` from the database, oldest first, skipping
        any this connection already sent; live events wait in the queue meanwhile, and those
        the replay included are skipped when their turn comes."""
        self._floor = min(self._floor, after_id)
        async with self._lock:
            missed = await service.missed_events(
                self.database, self.principal, after_id, REPLAY_PAGE
            )
            count = 0
            for event in missed.events:
                count += await self._deliver(event)
            await self._write(
                Resumed(
                    after_id=after_id,
                    count=count,
                    last_event_id=missed.last_event_id,
                    more=missed.more,
                )
            )

"""Live bot events over a WebSocket: `GET /api/v1/ws/bots` (upgrade).

OpenAPI cannot describe a WebSocket, so this text is also the description of
`GET /api/v1/ws/connections`.

**Connecting.** Authenticate with your access token (JWT) or an API key (`mbk_...`), in the
first of these that is present: an `Authorization: Bearer <token>` header; the subprotocol
`bearer.<token>` (a browser: `new WebSocket(url, ["multibot.v1", "bearer." + token])`; the
server answers with `multibot.v1` whenever the client offers it); or `?token=<token>` in the URL
(simplest, but URLs end up in proxy and server logs). Optional query parameters:
`after_id=N` replays what you missed since event N before the live stream starts;
`bot_id=` and `type=` (each repeatable) set the initial filter. A user has at most
50 connections open at a time, counted over every API process when Redis is configured.

**Server to client** (JSON text frames, each with a `type`):

- `welcome`: `connection_id`, `user_id`, `username`, `role`, `last_event_id` (the newest event
  id when you connected: keep it as your cursor), `heartbeat_seconds`, `max_message_bytes`,
  `bot_ids`, `types`, `time`.
- `event`: `event` = `{id, type, bot_id, owner_id, created_at, summary, payload}`, the same
  object as `GET /api/v1/activity`. Types include `trade.entry`, `trade.exit` (payload: the
  trade), `bot.status` (payload: `status`, `detail`) and `alert`. You receive the events of
  your own bots; admins receive everyone's. Ids only grow: remember the last one you saw.
- `broadcast`: `message`, `severity` (`info`, `warning`, `critical`), `event` (the stored
  event, type `broadcast`). Sent by an admin to every connected user, whatever their filter.
- `heartbeat`: `time`, `last_event_id` (the newest id sent on this connection), every
  15 seconds. No heartbeat for twice that long means the connection is dead: reconnect.
- `pong`: the answer to `ping`, with `time`.
- `subscribed`: the filter now in force (`bot_ids`, `types`; null means all).
- `resumed`: ends a replay: `after_id`, `count` (events sent), `last_event_id` (the replay got
  this far) and `more` (true: ask again after `last_event_id` for the rest).
- `dropped`: you read too slowly and the server discarded `count` queued events (`total` on
  this connection; they may include events that were not for you). Send
  `{"type": "resume", "after_id": resume_after_id}` to get them back.
- `error`: `code`, `message`, `details`. The connection stays open unless a close follows.

**Client to server** (JSON text, at most 16 KiB, about 2 per second with bursts of 20):

- `{"type": "ping"}`
- `{"type": "subscribe", "bot_ids": [1, 2] | null, "types": ["trade.entry"] | null}` replaces
  the filter (at most 100 bot ids and 50 types; another user's bot id simply matches nothing).
- `{"type": "resume", "after_id": N}`: replays the events after N that you may see, oldest
  first, at most 1000 at a time, then `resumed`. Nothing already sent on this connection is
  sent again, and nothing is lost between the replay and the live stream. To reconnect
  without a gap, open the new connection with `?after_id=<last id you saw>`.

A malformed message is answered with `error` (`INVALID_JSON`, `INVALID_MESSAGE`,
`RATE_LIMITED`) and the connection stays open.

**Close codes.** 4401: no, invalid or expired credential, or a revoked session (the reason
says which: `UNAUTHORIZED`, `INVALID_TOKEN`, `TOKEN_EXPIRED`, `SESSION_REVOKED`); the
credential is checked again every minute, so an expiring access token ends the stream:
reconnect with a fresh one and `after_id`. 4403: account disabled. 4422: invalid query
parameters. 4429: over the 50-connection limit (`TOO_MANY_CONNECTIONS`). 1009: a message over
16 KiB. 1011: a server fault. 1012: the server is restarting. An error message with the details
precedes each close the server starts for a reason of its own.

**Several API processes.** With `REDIS_URL` set, events travel through Redis, so every process
delivers every bot's events, and `GET /ws/connections` lists the connections of all processes
(`scope: cluster`); without Redis it lists this process's (`scope: process`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, WebSocket

from core_server.activity.schemas import EventRead
from core_server.auth.dependencies import Admin, CurrentPrincipal
from core_server.auth.errors import InsufficientRole
from core_server.core.deps import PageLimit, PageOffset, SessionDep
from core_server.core.envelope import Envelope, ok
from core_server.core.errors import InvalidInput, Unauthorized, error_responses
from core_server.realtime import service
from core_server.realtime.bus import EventBus
from core_server.realtime.connection import registry_for, serve
from core_server.realtime.registry import ConnectionRegistry
from core_server.realtime.schemas import BroadcastCreate, ConnectionPage

router = APIRouter(prefix="/ws", tags=["websocket"])


def get_registry(request: Request) -> ConnectionRegistry:
    return registry_for(request.app.state)


def get_bus(request: Request) -> EventBus:
    bus: EventBus = request.app.state.bus
    return bus


RegistryDep = Annotated[ConnectionRegistry, Depends(get_registry)]
BusDep = Annotated[EventBus, Depends(get_bus)]


@router.websocket("/bots")
async def bot_events(websocket: WebSocket) -> None:
    """The live event stream (see the description of GET /ws/connections)."""
    await serve(websocket)


@router.get(
    "/connections",
    response_model=Envelope[ConnectionPage],
    responses=error_responses(Unauthorized),
    summary="Open WebSocket connections (and the WebSocket protocol)",
    description=__doc__,
)
async def list_connections(
    principal: CurrentPrincipal,
    registry: RegistryDep,
    limit: PageLimit = 50,
    offset: PageOffset = 0,
) -> Envelope[ConnectionPage]:
    """Open WebSocket connections: all of them for admins, your own otherwise."""
    return ok(await service.list_connections(registry, principal, limit=limit, offset=offset))


@router.post(
    "/broadcast",
    status_code=202,
    response_model=Envelope[EventRead],
    responses=error_responses(Unauthorized, InsufficientRole, InvalidInput),
)
async def broadcast(
    body: BroadcastCreate, principal: Admin, session: SessionDep, bus: BusDep
) -> Envelope[EventRead]:
    """Send a message to every connected user (admin); it is stored as a `broadcast` event."""
    event = await service.broadcast(session, bus, principal, body)
    return ok(event, "Broadcast sent to every connected client.")

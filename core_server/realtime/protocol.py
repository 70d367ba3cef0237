"""The messages of the live WebSocket, both ways, and its close codes (described for users in
`core_server.realtime.router`, whose docstring is the OpenAPI description)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from core_server.activity.schemas import EventRead
from core_server.core.errors import DomainError

SUBPROTOCOL = "multibot.v1"
# Browsers cannot set headers on a WebSocket, and a query string ends up in access logs;
# a credential offered as the subprotocol `bearer.<token>` is neither.
BEARER_SUBPROTOCOL_PREFIX = "bearer."
BROADCAST_TYPE = "broadcast"

EVENT_TYPE_PATTERN = r"^[a-z_]+(\.[a-z_]+)?$"
MAX_FILTER_BOT_IDS = 100
MAX_FILTER_TYPES = 50

BotId = Annotated[int, Field(ge=1, le=2_147_483_647)]
EventType = Annotated[str, Field(pattern=EVENT_TYPE_PATTERN, max_length=40)]
BotIds = Annotated[list[BotId], Field(max_length=MAX_FILTER_BOT_IDS)]
EventTypes = Annotated[list[EventType], Field(max_length=MAX_FILTER_TYPES)]
EventId = Annotated[int, Field(ge=0, le=2**63 - 1)]


class CloseCode(IntEnum):
    """Application codes are 4000 + the HTTP status the same failure has in the REST API."""

    NORMAL = 1000
    MESSAGE_TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012  # sent by the server process when it shuts down
    UNAUTHORIZED = 4401
    FORBIDDEN = 4403
    INVALID_PARAMETERS = 4422
    TOO_MANY_CONNECTIONS = 4429

    @classmethod
    def for_error(cls, error: DomainError) -> int:
        return 4000 + error.status_code


# --- client -> server -------------------------------------------------------------------------


class _ClientMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Ping(_ClientMessage):
    type: Literal["ping"]


class Subscribe(_ClientMessage):
    """Replace the connection's filter; null (or absent) means every bot or every type."""

    type: Literal["subscribe"]
    bot_ids: BotIds | None = None
    types: EventTypes | None = None


class Resume(_ClientMessage):
    type: Literal["resume"]
    after_id: EventId


ClientMessage = Annotated[Ping | Subscribe | Resume, Field(discriminator="type")]
CLIENT_MESSAGE: TypeAdapter[Ping | Subscribe | Resume] = TypeAdapter(ClientMessage)


class ConnectParams(BaseModel):
    """What a client may put in the connection URL besides its token."""

    after_id: EventId | None = None
    bot_ids: BotIds | None = None
    types: EventTypes | None = None


def validation_details(exc: ValidationError) -> list[dict[str, Any]]:
    return [
        {
            "field": ".".join(str(part) for part in error.get("loc", ())) or "message",
            "message": error.get("msg", "invalid value"),
            "type": error.get("type", "value_error"),
        }
        for error in exc.errors()
    ]


@dataclass(frozen=True)
class EventFilter:
    """Which events a connection wants, on top of what its user may see."""

    bot_ids: frozenset[int] | None = None
    types: frozenset[str] | None = None

    @classmethod
    def of(cls, bot_ids: list[int] | None, types: list[str] | None) -> EventFilter:
        return cls(
            frozenset(bot_ids) if bot_ids is not None else None,
            frozenset(types) if types is not None else None,
        )

    def matches(self, event: EventRead) -> bool:
        if self.bot_ids is not None and event.bot_id not in self.bot_ids:
            return False
        return self.types is None or event.type in self.types

    def bot_id_list(self) -> list[int] | None:
        return sorted(self.bot_ids) if self.bot_ids is not None else None

    def type_list(self) -> list[str] | None:
        return sorted(self.types) if self.types is not None else None


# --- server -> client -------------------------------------------------------------------------


class Welcome(BaseModel):
    type: Literal["welcome"] = "welcome"
    connection_id: str
    user_id: int
    username: str
    role: str
    last_event_id: int | None = Field(
        description="The newest event id when the connection opened: resume after it."
    )
    heartbeat_seconds: float
    max_message_bytes: int
    bot_ids: list[int] | None
    types: list[str] | None
    time: datetime


class EventMessage(BaseModel):
    type: Literal["event"] = "event"
    event: EventRead


class BroadcastMessage(BaseModel):
    type: Literal["broadcast"] = "broadcast"
    message: str
    severity: str
    event: EventRead


class Heartbeat(BaseModel):
    type: Literal["heartbeat"] = "heartbeat"
    time: datetime
    last_event_id: int | None


class Pong(BaseModel):
    type: Literal["pong"] = "pong"
    time: datetime


class Subscribed(BaseModel):
    type: Literal["subscribed"] = "subscribed"
    bot_ids: list[int] | None
    types: list[str] | None


class Resumed(BaseModel):
    type: Literal["resumed"] = "resumed"
    after_id: int
    count: int = Field(description="Events sent by this replay.")
    last_event_id: int = Field(description="Replayed up to here; resume after it if `more`.")
    more: bool


class Dropped(BaseModel):
    type: Literal["dropped"] = "dropped"
    count: int
    total: int
    resume_after_id: int


class ErrorMessage(BaseModel):
    type: Literal["error"] = "error"
    code: str
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


ServerMessage = (
    Welcome
    | EventMessage
    | BroadcastMessage
    | Heartbeat
    | Pong
    | Subscribed
    | Resumed
    | Dropped
    | ErrorMessage
)

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from core_server.core.envelope import Page

Severity = Literal["info", "warning", "critical"]
BroadcastText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)
]


class BroadcastCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: BroadcastText
    severity: Severity = "info"


class ConnectionRead(BaseModel):
    """One open WebSocket connection."""

    id: str
    user_id: int
    username: str
    connected_at: datetime
    client_address: str | None
    server: str = Field(description="The API process holding the connection (host:pid).")
    bot_ids: list[int] | None = Field(description="The connection's bot filter; null is all.")
    types: list[str] | None = Field(description="The connection's event type filter.")
    events_sent: int
    dropped: int = Field(description="Events discarded because the client did not keep up.")
    last_event_id: int | None


class ConnectionPage(Page[ConnectionRead]):
    scope: Literal["cluster", "process"] = Field(
        description="cluster: every API process sharing Redis; process: only this one."
    )
    max_per_user: int

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class EventRead(BaseModel):
    """One event, as the activity feed and the WebSocket give it."""

    model_config = ConfigDict(from_attributes=True)

    id: int = Field(description="Grows with every event; resume a stream after it.")
    type: str = Field(examples=["trade.entry", "trade.exit", "bot.status", "alert"])
    bot_id: int | None
    owner_id: int | None
    created_at: datetime
    summary: str
    payload: dict[str, Any]


class EventPage(BaseModel):
    items: list[EventRead]
    total: int
    limit: int
    offset: int

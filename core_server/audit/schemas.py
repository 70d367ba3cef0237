from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class AuditEntryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    created_at: datetime
    actor_id: int | None
    actor_name: str | None
    action: str
    resource_type: str | None
    resource_id: str | None
    outcome: str
    client_address: str | None
    request_id: str | None
    details: dict[str, Any]

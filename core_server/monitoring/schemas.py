from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

Status = Literal["healthy", "degraded", "unhealthy"]


class Liveness(BaseModel):
    status: Literal["ok"] = "ok"
    version: str


class ComponentHealth(BaseModel):
    status: Status
    latency_ms: float | None = None
    detail: str | None = None


class SystemHealth(BaseModel):
    status: Status
    version: str
    environment: str
    profile: str
    uptime_seconds: float
    components: dict[str, ComponentHealth]

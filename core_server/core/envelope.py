"""The response envelope every endpoint answers with (the seed's Response Format)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field

T = TypeVar("T")


def now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class Envelope(BaseModel, Generic[T]):
    success: bool = True
    data: T
    message: str = ""
    timestamp: str = Field(default_factory=now_iso)


class ErrorBody(BaseModel):
    code: str = Field(examples=["BOT_NOT_FOUND"])
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class ErrorEnvelope(BaseModel):
    success: bool = False
    error: ErrorBody
    timestamp: str = Field(default_factory=now_iso)


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


def ok(data: T, message: str = "") -> Envelope[T]:
    return Envelope[T](data=data, message=message)

"""The live WebSocket and its administration (filled in by the realtime work)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/ws", tags=["websocket"])

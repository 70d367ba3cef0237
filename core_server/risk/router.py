"""Risk rules and alerts (filled in by the risk work)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["monitoring"])

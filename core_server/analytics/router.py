"""Analytics over the mirrored trades and equity (filled in by the analytics work)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/analytics", tags=["analytics"])

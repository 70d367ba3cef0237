"""Equity snapshots thinned out with age, so the table grows with time, not with the polling rate:
every snapshot for a day, then the last one of each hour, then the last one of each day after a
month. The last snapshot of a bucket is the one kept because it is the bucket's closing value, as
a candle's close is.

Each pass only looks at the rows that aged into a tier since the previous pass (plus one bucket
of overlap), so its cost follows the fleet's snapshot rate, not the table's size. The first pass
after a start covers everything older than the tier's age once.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Integer, and_, cast, delete, func, select

from core_server.collector.models import EquitySnapshot
from core_server.core.database import Database, utcnow

logger = logging.getLogger(__name__)

THIN_EVERY_SECONDS = 600.0


@dataclass(frozen=True)
class Tier:
    older_than: timedelta  # rows older than this ...
    bucket_seconds: int  # ... keep one per bot per bucket of this length


TIERS = (
    Tier(older_than=timedelta(days=1), bucket_seconds=3600),
    Tier(older_than=timedelta(days=30), bucket_seconds=86400),
)

S = EquitySnapshot


def _bucket(dialect: str, seconds: int) -> ColumnElement[int]:
    """The snapshot's time, in whole buckets since the epoch, in the database's own terms."""
    if dialect == "sqlite":  # integer division of integers
        return cast(cast(func.strftime("%s", S.taken_at), Integer) / seconds, Integer)
    return cast(func.floor(func.extract("epoch", S.taken_at) / seconds), Integer)


class SnapshotRetention:
    def __init__(self, database: Database, every: float = THIN_EVERY_SECONDS) -> None:
        self.database = database
        self.every = every
        self._done_until: dict[Tier, datetime] = {}
        self._next = 0.0

    async def maybe_thin(self) -> None:
        if time.monotonic() < self._next:
            return
        self._next = time.monotonic() + self.every
        try:
            removed = await self.thin(utcnow())
        except Exception:
            logger.exception("equity snapshots could not be thinned")
            return
        if removed:
            logger.info("thinned %d old equity snapshots", removed)

    async def thin(self, now: datetime) -> int:
        """One pass over every tier; returns how many snapshots it removed."""
        removed = 0
        dialect = self.database.engine.dialect.name
        for tier in TIERS:
            until = now - tier.older_than
            done = self._done_until.get(tier)
            window = [S.taken_at < until]
            if done is not None:
                window.append(S.taken_at >= done - timedelta(seconds=tier.bucket_seconds))
            bucket = _bucket(dialect, tier.bucket_seconds)
            keep = (
                select(func.max(S.id))
                .where(and_(*window))
                .group_by(S.bot_id, bucket)
                .scalar_subquery()
            )
            async with self.database.transaction() as session:
                result = await session.execute(
                    delete(S)
                    .where(and_(*window), S.id.not_in(keep))
                    .execution_options(synchronize_session=False)
                )
            removed += int(getattr(result, "rowcount", 0) or 0)
            self._done_until[tier] = until
        return removed

"""The jobs part of one server process: the queue, freqtrade's location, and in the embedded
default (no REDIS_URL) the local worker pool; with Redis, workers are `multibot worker`
processes and the server only runs a reaper."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from core_server.backtests.queue import JobQueue
from core_server.backtests.worker import JobWorker, Reaper
from core_server.core.database import Database, after_commit
from core_server.core.settings import Settings
from core_server.freqtrade.commands import FreqtradeMissing, freqtrade_executable

logger = logging.getLogger(__name__)


def find_freqtrade(settings: Settings) -> Path | None:
    try:
        return freqtrade_executable(settings)
    except FreqtradeMissing as exc:
        logger.warning("%s; jobs will fail until it is", exc)
        return None


class JobSystem:
    def __init__(self, settings: Settings, database: Database) -> None:
        self.settings = settings
        self.database = database
        self.queue = JobQueue(settings)
        self.executable = find_freqtrade(settings)
        self.templates_lock = asyncio.Lock()
        self.pool: JobWorker | None = None
        self.reaper: Reaper | None = None
        if self.queue.is_local:
            self.pool = JobWorker(settings, database, self.queue, self.executable)
        else:
            self.reaper = Reaper(settings, database, self.queue)
        self._sends: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        if self.pool is not None:
            await self.pool.start()
        if self.reaper is not None:
            self.reaper.start()

    async def close(self) -> None:
        if self._sends:
            await asyncio.gather(*self._sends, return_exceptions=True)
        if self.pool is not None:
            await self.pool.stop()
        if self.reaper is not None:
            await self.reaper.close()
        await asyncio.to_thread(self.queue.close)

    def send_after_commit(self, session: AsyncSession, job_id: int) -> None:
        """Put the job on the queue once the request's transaction has committed (a rolled-back
        request sends nothing). A failed send leaves the job queued in the database, and the
        reaper sends it again."""

        def send() -> None:
            task = asyncio.get_running_loop().create_task(self._send(job_id))
            self._sends.add(task)
            task.add_done_callback(self._sends.discard)

        after_commit(session, send)

    async def _send(self, job_id: int) -> None:
        try:
            await asyncio.to_thread(self.queue.send, job_id)
        except Exception:
            logger.warning(
                "job %s not sent to the queue now; the reaper will", job_id, exc_info=True
            )

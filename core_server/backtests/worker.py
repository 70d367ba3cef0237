"""Workers: a Dramatiq worker whose threads hand each job to this process's event loop, the
reaper that keeps every job accounted for, and the two ways to run them: `multibot worker` (a
process of its own, any machine that reaches the database, Redis and the shared data directory)
and the server's local pool (the embedded default, no Redis)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import signal
import socket
from datetime import timedelta
from pathlib import Path

import dramatiq
from sqlalchemy import select, update

from core_server.backtests.models import Job, JobState
from core_server.backtests.queue import JobQueue
from core_server.backtests.tasks import JobRunner, new_worker_id
from core_server.core.database import Database, utcnow
from core_server.core.settings import Settings
from core_server.freqtrade.commands import kill_group

logger = logging.getLogger(__name__)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def worker_gone(worker_id: str | None) -> bool:
    """A worker of this host whose process no longer exists (killed, crashed)."""
    if not worker_id:
        return True
    host, _, rest = worker_id.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    return not _process_alive(int(pid_text))


def is_job_process(pid: int, job_id: int) -> bool:
    """Whether `pid` on this host is a freqtrade working for this job (its command line names
    the job's folder), so a recycled pid is never signalled."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False
    return f"/jobs/{job_id}/" in cmdline


class Reaper:
    """Keeps every job accounted for; any number of processes may run one (each change is a
    conditional update, so only one of them wins):

    - a running job whose worker stopped heart-beating (or, on this host, whose process is
      gone) is queued again, or failed with the reason after JOB_MAX_ATTEMPTS runs; its
      freqtrade, if still alive on this host, is ended;
    - a queued job whose message the broker no longer holds (Redis restarted without
      persistence, a crash between commit and send, the server's in-memory queue after a
      restart) is sent again.
    """

    def __init__(self, settings: Settings, database: Database, queue: JobQueue) -> None:
        self.settings = settings
        self.database = database
        self.queue = queue
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._forever(), name="job-reaper")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _forever(self) -> None:
        while True:
            try:
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("job reaper sweep failed", exc_info=True)
            await asyncio.sleep(self.settings.job_reaper_interval_seconds)

    async def sweep(self) -> None:
        await self._reap_running()
        await self.resend_lost()

    async def _reap_running(self) -> None:
        stale_before = utcnow() - timedelta(seconds=self.settings.job_stale_seconds)
        async with self.database.transaction() as session:
            rows = (
                await session.execute(
                    select(
                        Job.id, Job.worker_id, Job.heartbeat_at, Job.pid, Job.attempts,
                        Job.max_attempts,
                    ).where(Job.state == JobState.running)
                )
            ).all()  # fmt: skip
        for job_id, worker_id, heartbeat_at, pid, attempts, max_attempts in rows:
            stale = heartbeat_at is None or heartbeat_at < stale_before
            if not (stale or worker_gone(worker_id)):
                continue
            if pid is not None and is_job_process(pid, job_id):
                # An orphaned freqtrade of a dead worker on this host: end its group.
                kill_group(pid, signal.SIGKILL)
            why = (
                f"worker {worker_id} stopped"
                if worker_gone(worker_id)
                else f"worker {worker_id} sent no heartbeat for "
                f"{self.settings.job_stale_seconds:.0f} s"
            )
            if attempts < max_attempts:
                values = {
                    "state": JobState.queued,
                    "stage": f"retrying: {why}",
                    "queued_at": utcnow(),
                }
            else:
                values = {
                    "state": JobState.failed,
                    "error": f"{why} while running attempt {attempts} of {max_attempts}; "
                    "not retried again",
                    "finished_at": utcnow(),
                }
            async with self.database.transaction() as session:
                result = await session.execute(
                    update(Job)
                    .where(
                        Job.id == job_id, Job.state == JobState.running, Job.worker_id == worker_id
                    )
                    .values(
                        **values, worker_id=None, pid=None, heartbeat_at=None, updated_at=utcnow()
                    )
                )
                taken = getattr(result, "rowcount", 0) == 1
            if taken:
                logger.warning("job %s: %s; %s", job_id, why, values["state"])
                if values["state"] == JobState.queued:
                    await self._send(job_id)

    async def resend_lost(self, grace_seconds: float | None = None) -> None:
        if grace_seconds is None:
            grace_seconds = max(self.settings.job_heartbeat_seconds, 2.0)
        grace_before = utcnow() - timedelta(seconds=grace_seconds)
        async with self.database.transaction() as session:
            queued = (
                await session.execute(
                    select(Job.id, Job.queued_at).where(Job.state == JobState.queued)
                )
            ).all()
        candidates = [job_id for job_id, queued_at in queued if queued_at <= grace_before]
        if not candidates:
            return
        pending = await asyncio.to_thread(self.queue.pending_job_ids)
        for job_id in candidates:
            if job_id in pending:
                continue
            async with self.database.transaction() as session:
                await session.execute(
                    update(Job)
                    .where(Job.id == job_id, Job.state == JobState.queued)
                    .values(queued_at=utcnow(), updated_at=utcnow())
                )
            logger.warning("job %s was queued but its message was gone; sent again", job_id)
            await self._send(job_id)

    async def _send(self, job_id: int) -> None:
        try:
            await asyncio.to_thread(self.queue.send, job_id)
        except Exception:
            # Redis away: the next sweep sends it (the job stays queued in the database).
            logger.warning("could not send job %s to the queue", job_id, exc_info=True)


class JobWorker:
    """Runs jobs from the queue in this process: `concurrency` Dramatiq worker threads, each
    waiting on one job that runs on this process's event loop, plus the reaper."""

    def __init__(
        self,
        settings: Settings,
        database: Database,
        queue: JobQueue,
        executable: Path | None,
        *,
        concurrency: int | None = None,
        worker_id: str | None = None,
    ) -> None:
        self.settings = settings
        self.queue = queue
        self.concurrency = concurrency or settings.worker_concurrency
        self.worker_id = worker_id or new_worker_id()
        self.runner = JobRunner(settings, database, executable, self.worker_id)
        self.reaper = Reaper(settings, database, queue)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._worker: dramatiq.Worker | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = False

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.queue.set_handler(self._handle)
        self._worker = self.queue.worker(self.concurrency)
        await asyncio.to_thread(self._worker.start)
        self.reaper.start()
        logger.info(
            "job worker %s started: %d at once, %s broker",
            self.worker_id,
            self.concurrency,
            "in-memory" if self.queue.is_local else "Redis",
        )

    def _handle(self, job_id: int) -> None:
        """Called in a Dramatiq worker thread: run the job on the event loop and wait."""
        loop = self._loop
        if loop is None or self._stopping:
            raise RuntimeError("the job worker is stopping")
        future = asyncio.run_coroutine_threadsafe(self._run(job_id), loop)
        try:
            future.result()
        except (concurrent.futures.CancelledError, asyncio.CancelledError):
            # The worker shut down mid-job: the job went back to the queue in the database.
            return
        except Exception:
            logger.exception("job %s: unexpected error in its runner", job_id)

    async def _run(self, job_id: int) -> None:
        task = asyncio.current_task()
        assert task is not None  # noqa: S101 - always inside a task
        self._tasks.add(task)
        try:
            await self.runner.run(job_id)
        finally:
            self._tasks.discard(task)

    async def stop(self) -> None:
        """Stop taking jobs; jobs still running end their freqtrade and go back to the queue."""
        self._stopping = True
        await self.reaper.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._worker is not None:
            await asyncio.to_thread(self._worker.stop, 10_000)
            self._worker = None
        self.queue.set_handler(None)
        # Jobs given back are sent again now (a Redis broker keeps them for other workers; the
        # in-memory one is re-filled by the next start's reaper).
        if not self.queue.is_local:
            with contextlib.suppress(Exception):
                await self.reaper.resend_lost(grace_seconds=0)

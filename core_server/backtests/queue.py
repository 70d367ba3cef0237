"""The job queue: Dramatiq, with Redis as the broker across machines and its in-memory stub
broker in the embedded default. Either way one actor, `run_job(job_id)`, runs in worker threads
of a `dramatiq.Worker` that hand each job to the process's event loop (see worker.py): the same
code path with and without Redis.

Why Dramatiq (over Celery, arq and taskiq):
- It is established (since 2017, LGPL, widely deployed) and small: a broker, actors and a worker
  we can start from our own `multibot worker` command and inside the server, without its CLI.
- Its Redis broker acknowledges a message only after the actor returns and re-delivers the
  unacknowledged messages of a worker that stopped heart-beating: a worker killed mid-job does
  not lose the message. Celery's Redis transport needs visibility-timeout tuning for that.
- It has a real in-memory broker (StubBroker) that a normal `Worker` consumes, so the embedded
  default runs jobs through the same worker code, where arq needs Redis and Celery's eager mode
  bypasses the worker altogether. taskiq is younger and its Redis acknowledgement story is
  spread over plug-ins.
- Its worker is threads, which suits jobs that wait on a freqtrade process all the time.

The queue only carries job ids. The `jobs` table is the source of truth: the actor claims a job
there before it runs it (so a duplicate message is harmless), retries are the reaper's, not
Dramatiq's (Retries, TimeLimit and AgeLimit middleware are left out on purpose), and a message
lost with a Redis that restarted without persistence is noticed (`pending_job_ids`) and sent
again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.message import Message

from core_server.core.settings import Settings

logger = logging.getLogger(__name__)

QUEUE_NAME = "jobs"
ACTOR_NAME = "run_job"


class JobQueue:
    """The broker and its one actor. `send(job_id)` blocks (Redis I/O): call it in a thread."""

    def __init__(self, settings: Settings) -> None:
        self.redis_url = settings.redis_url
        self.namespace = f"{settings.redis_prefix}:dramatiq"
        self.broker: dramatiq.Broker
        if settings.redis_url:
            self.broker = RedisBroker(  # type: ignore[no-untyped-call]
                url=settings.redis_url,
                namespace=self.namespace,
                middleware=[],
                # Dramatiq's own re-delivery of a dead worker's messages; our reaper acts on the
                # job itself (JOB_STALE_SECONDS), whichever comes first wins the claim.
                heartbeat_timeout=max(int(settings.job_stale_seconds * 1000), 5000),
                socket_timeout=10,
                socket_connect_timeout=5,
                health_check_interval=30,
            )
        else:
            self.broker = StubBroker(middleware=[])
        self.broker.declare_queue(QUEUE_NAME)
        self._handler: Callable[[int], None] | None = None
        # The stub broker keeps messages in process memory: what it holds is what we sent and
        # no worker has taken yet.
        self._local_pending: set[int] = set()
        self._lock = threading.Lock()
        self.actor: dramatiq.Actor[[int], None] = dramatiq.Actor(
            self._dispatch,
            broker=self.broker,
            actor_name=ACTOR_NAME,
            queue_name=QUEUE_NAME,
            priority=0,
            options={},
        )

    @property
    def is_local(self) -> bool:
        return self.redis_url is None

    def set_handler(self, handler: Callable[[int], None] | None) -> None:
        self._handler = handler

    def _dispatch(self, job_id: int) -> None:
        with self._lock:
            self._local_pending.discard(job_id)
        handler = self._handler
        if handler is None:
            raise RuntimeError("no job handler in this process")
        handler(job_id)

    def send(self, job_id: int) -> None:
        if self.is_local:
            with self._lock:
                self._local_pending.add(job_id)
        self.broker.enqueue(self.actor.message(job_id))

    def pending_job_ids(self) -> set[int]:
        """Ids of jobs with a message the broker still holds (waiting, or taken by a worker and
        not yet acknowledged). Blocking."""
        if self.is_local:
            with self._lock:
                return set(self._local_pending)
        assert isinstance(self.broker, RedisBroker)  # noqa: S101 - not local
        found: set[int] = set()
        for raw in self.broker.client.hvals(f"{self.namespace}:{QUEUE_NAME}.msgs"):
            try:
                message = Message.decode(raw.encode() if isinstance(raw, str) else raw)
                found.add(int(message.args[0]))
            except (ValueError, IndexError, TypeError, dramatiq.errors.DecodeError):
                continue
        return found

    def worker(self, concurrency: int) -> dramatiq.Worker:
        # How long an idle thread waits before it looks again; it bounds the pickup delay of a
        # job and the time a stop takes. The in-memory queue is cheap to look at.
        timeout = 100 if self.is_local else 500
        worker = dramatiq.Worker(
            self.broker, queues={QUEUE_NAME}, worker_threads=concurrency, worker_timeout=timeout
        )
        # Take no more messages than there are threads to run them: a message held by a busy
        # worker would wait while another worker idles.
        worker.queue_prefetch = concurrency
        return worker

    def close(self) -> None:
        self.broker.close()

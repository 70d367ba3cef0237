"""Jobs (backtests, hyperopt runs, market data downloads) and their stored results.

The `jobs` table is the source of truth for every job: the queue only carries job ids, so a lost
message, a restarted Redis or a killed worker never loses a job (the reaper re-enqueues or
retries it from here).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core_server.core.database import Base, TimestampMixin, utcnow


class JobKind(StrEnum):
    backtest = "backtest"
    hyperopt = "hyperopt"
    download = "download"


class JobState(StrEnum):
    queued = "queued"
    running = "running"
    completed = "completed"
    failed = "failed"
    cancelled = "cancelled"


ACTIVE_STATES = frozenset({JobState.queued, JobState.running})


class Job(TimestampMixin, Base):
    __tablename__ = "jobs"
    __table_args__ = (
        Index("idx_jobs_created_by", "created_by"),
        Index("idx_jobs_state", "state"),
        Index("idx_jobs_kind", "kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column("created_by", ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), default=JobState.queued)
    # 0..1, and what the job is doing now ("downloading candles", "backtesting" ...).
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    stage: Mapped[str | None] = mapped_column(String(200))
    # The request as accepted (pairs, timerange, wallet ...).
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Why a job failed or was cancelled, in freqtrade's words where freqtrade said it.
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=3)
    # host:pid:token of the worker process running it, and its freqtrade process (a group).
    worker_id: Mapped[str | None] = mapped_column(String(200))
    pid: Mapped[int | None]
    heartbeat_at: Mapped[datetime | None]
    queued_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    # The strategy the job ran with: a snapshot, so later edits never change a result's meaning.
    strategy_name: Mapped[str | None] = mapped_column(String(100))
    strategy_class: Mapped[str | None] = mapped_column(String(100))
    strategy_version: Mapped[int | None]
    strategy_version_id: Mapped[int | None]
    strategy_code: Mapped[str | None] = mapped_column(Text)
    # The version's saved parameter values (freqtrade's parameter file `params`), if any.
    strategy_parameters: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class JobResult(Base):
    """What a finished job produced, read from freqtrade's own export."""

    __tablename__ = "job_results"

    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    per_pair: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    trades: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    equity_curve: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    drawdown: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    exit_reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # Hyperopt: the best parameters (freqtrade's `hyperopt-show --best --print-json`) and the
    # parameter file freqtrade wrote beside the strategy (load it to run with them).
    best_params: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    parameter_file: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Downloads: the candle files present afterwards.
    files: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # freqtrade's export file, relative to DATA_DIR.
    export_file: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

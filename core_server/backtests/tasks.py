"""Running one job in a worker: claim it in the database, run freqtrade for it, store what
freqtrade exported. A heartbeat proves the worker alive; when it finds the job no longer its own
(cancelled, deleted, or handed to another worker by the reaper) it ends freqtrade at once."""

from __future__ import annotations

import ast
import asyncio
import contextlib
import json
import logging
import os
import shutil
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from core_server.backtests import export, market_data
from core_server.backtests.models import Job, JobKind, JobResult, JobState
from core_server.backtests.process import FreqtradeProcess, Outcome, failure_reason
from core_server.backtests.schemas import SIMULATOR, BacktestRun, DownloadRequest, HyperoptRun
from core_server.bots.exchanges import exchange_block
from core_server.bots.files import deep_merge, write_config
from core_server.core.database import Database, utcnow
from core_server.core.settings import Settings

logger = logging.getLogger(__name__)

# Candles loaded before the timerange for the strategy's start-up when it names no
# startup_candle_count we can read.
DEFAULT_STARTUP_CANDLES = 500
BACKTEST_MARKERS = (
    ("Loading data from", 0.35, "loading candles"),
    ("Dataload complete", 0.45, "calculating indicators"),
    ("Running backtesting for Strategy", 0.5, "backtesting"),
    ("Starting training", 0.55, "training the FreqAI model"),
    ("Backtesting with data from", 0.6, "backtesting"),
    ("dumping json to", 0.9, "storing results"),
)


def new_worker_id() -> str:
    """host:pid:token, so the reaper on the same host can tell a dead worker at once."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def jobs_root(settings: Settings) -> Path:
    return (settings.data_dir / "jobs").resolve()


class JobFailed(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class JobLost(Exception):
    """The job stopped being ours while it ran (cancelled, deleted, reaped)."""


@dataclass
class Execution:
    job_id: int
    process: FreqtradeProcess
    progress: float = 0.0
    stage: str = "starting"
    lost: bool = False
    # Extra progress source polled at each heartbeat (hyperopt's epochs file).
    probe: Callable[[], None] | None = None
    markers: tuple[tuple[str, float, str], ...] = ()
    _seen: set[str] = field(default_factory=set)

    def set(self, progress: float, stage: str) -> None:
        self.progress = max(self.progress, min(progress, 0.99))
        self.stage = stage

    def on_line(self, line: str) -> None:
        for marker, progress, stage in self.markers:
            if marker in line:
                self.set(progress, stage)

    def check(self, outcome: Outcome) -> Outcome:
        if self.lost or outcome.aborted:
            raise JobLost()
        return outcome


Handler = Callable[["JobRunner", Job, Execution, Path], Awaitable[JobResult]]


class JobRunner:
    """Runs jobs for one worker process (or the server's local pool)."""

    def __init__(
        self, settings: Settings, database: Database, executable: Path | None, worker_id: str
    ) -> None:
        self.settings = settings
        self.database = database
        self.executable = executable
        self.worker_id = worker_id
        self.running: dict[int, Execution] = {}

    # --- claiming and finishing ------------------------------------------------------------

    async def claim(self, job_id: int) -> Job | None:
        """queued -> running for this worker; None when the job is not queued (a duplicate
        message, or cancelled or deleted meanwhile)."""
        now = utcnow()
        async with self.database.transaction() as session:
            result = await session.execute(
                update(Job)
                .where(Job.id == job_id, Job.state == JobState.queued)
                .values(
                    state=JobState.running,
                    attempts=Job.attempts + 1,
                    worker_id=self.worker_id,
                    heartbeat_at=now,
                    started_at=now,
                    pid=None,
                    progress=0.0,
                    stage="starting",
                    updated_at=now,
                )
            )
            if getattr(result, "rowcount", 0) != 1:
                return None
            return (await session.execute(select(Job).where(Job.id == job_id))).scalar_one()

    async def _mine(self, job_id: int, **values: Any) -> bool:
        async with self.database.transaction() as session:
            result = await session.execute(
                update(Job)
                .where(
                    Job.id == job_id,
                    Job.state == JobState.running,
                    Job.worker_id == self.worker_id,
                )
                .values(**values, updated_at=utcnow())
            )
            return bool(getattr(result, "rowcount", 0) == 1)

    async def _let_go(self, job_id: int) -> None:
        """This worker no longer holds the job (its process has ended)."""
        async with self.database.transaction() as session:
            await session.execute(
                update(Job)
                .where(Job.id == job_id, Job.worker_id == self.worker_id)
                .values(heartbeat_at=None, pid=None, updated_at=utcnow())
            )

    async def _fail(self, job_id: int, reason: str) -> None:
        failed = await self._mine(
            job_id,
            state=JobState.failed,
            error=reason,
            finished_at=utcnow(),
            heartbeat_at=None,
            pid=None,
        )
        if not failed:  # cancelled or taken over meanwhile: keep that state
            await self._let_go(job_id)

    async def _complete(self, job_id: int, result: JobResult) -> None:
        async with self.database.transaction() as session:
            done = await session.execute(
                update(Job)
                .where(
                    Job.id == job_id,
                    Job.state == JobState.running,
                    Job.worker_id == self.worker_id,
                )
                .values(
                    state=JobState.completed,
                    progress=1.0,
                    stage="done",
                    error=None,
                    finished_at=utcnow(),
                    heartbeat_at=None,
                    pid=None,
                    updated_at=utcnow(),
                )
            )
            if getattr(done, "rowcount", 0) == 1:
                result.job_id = job_id
                session.add(result)
                return
        await self._let_go(job_id)

    async def release(self, job_id: int) -> bool:
        """Give a job back to the queue when this worker shuts down (the run does not count as
        an attempt). True when the job was requeued."""
        return await self._mine(
            job_id,
            state=JobState.queued,
            attempts=Job.attempts - 1,
            worker_id=None,
            heartbeat_at=None,
            pid=None,
            stage="requeued: its worker shut down",
            queued_at=utcnow(),
        )

    # --- running -----------------------------------------------------------------------------

    async def run(self, job_id: int) -> None:
        job = await self.claim(job_id)
        if job is None:
            logger.info("job %s is not queued any more; message dropped", job_id)
            return
        workdir = jobs_root(self.settings) / str(job.id) / f"attempt-{job.attempts}"
        execution = Execution(
            job.id,
            FreqtradeProcess(
                executable=self.executable or Path("freqtrade"),
                log_path=workdir / "freqtrade.log",
                cwd=workdir,
            ),
        )
        execution.process.on_line = execution.on_line
        self.running[job.id] = execution
        beat = asyncio.create_task(self._heartbeat(execution), name=f"job-{job.id}-heartbeat")
        logger.info("job %s (%s) started, attempt %s", job.id, job.kind, job.attempts)
        try:
            if self.executable is None:
                raise JobFailed("freqtrade is not installed on this worker (FREQTRADE_BIN)")
            await asyncio.to_thread(market_data.ensure_dir, workdir)
            result = await HANDLERS[JobKind(job.kind)](self, job, execution, workdir)
        except asyncio.CancelledError:
            execution.process.abort()
            with contextlib.suppress(Exception):
                await asyncio.shield(self._released(job.id))
            raise
        except JobLost:
            logger.info("job %s was cancelled or taken over; its freqtrade was ended", job.id)
            await self._let_go(job.id)
        except JobFailed as exc:
            logger.info("job %s failed: %s", job.id, exc.reason)
            await self._fail(job.id, exc.reason)
        except Exception as exc:
            logger.exception("job %s failed unexpectedly", job.id)
            await self._fail(job.id, f"internal error: {type(exc).__name__}: {exc}")
        else:
            await self._complete(job.id, result)
            logger.info("job %s completed", job.id)
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat
            self.running.pop(job.id, None)

    async def _released(self, job_id: int) -> None:
        if not await self.release(job_id):
            await self._let_go(job_id)

    async def _heartbeat(self, execution: Execution) -> None:
        interval = self.settings.job_heartbeat_seconds
        while True:
            await asyncio.sleep(interval)
            if execution.probe is not None:
                with contextlib.suppress(Exception):
                    execution.probe()
            try:
                still_mine = await self._mine(
                    execution.job_id,
                    heartbeat_at=utcnow(),
                    progress=execution.progress,
                    stage=execution.stage[:200],
                    pid=execution.process.pid,
                )
            except Exception:
                # The database may be briefly away; the reaper's patience covers it.
                logger.warning("heartbeat of job %s not written", execution.job_id, exc_info=True)
                continue
            if not still_mine:
                execution.lost = True
                execution.process.abort()
                return

    # --- freqtrade -----------------------------------------------------------------------------

    async def freqtrade(
        self, execution: Execution, args: list[str], *, limit: float | None = None
    ) -> Outcome:
        seconds = limit or self.settings.job_time_limit_seconds
        outcome = execution.check(await execution.process.run(args, limit_seconds=seconds))
        if not outcome.ok:
            raise JobFailed(failure_reason(outcome, seconds))
        return outcome

    def exchange_config(self, exchange: str, pairs: list[str]) -> dict[str, Any]:
        block = exchange_block(exchange, self.settings.resolved_simulator_url)
        return {**block, "pair_whitelist": list(pairs), "pair_blacklist": []}


# --- downloads -----------------------------------------------------------------------------------


def _user_dir(workdir: Path) -> Path:
    user_data = workdir / "user_data"
    for folder in ("strategies", "data", "backtest_results", "hyperopt_results", "logs"):
        (user_data / folder).mkdir(parents=True, exist_ok=True)
    return user_data


async def _download(
    runner: JobRunner,
    execution: Execution,
    workdir: Path,
    *,
    exchange: str,
    pairs: list[str],
    timeframes: list[str],
    timerange: str,
) -> None:
    directory = market_data.exchange_dir(runner.settings, exchange)
    user_data = await asyncio.to_thread(_user_dir, workdir)
    config = {
        "exchange": runner.exchange_config(exchange, pairs),
        "stake_currency": pairs[0].split("/")[1],
        "dry_run": True,
        "trading_mode": "spot",
        "pairlists": [{"method": "StaticPairList"}],
    }
    path = workdir / "download-config.json"
    await asyncio.to_thread(write_config, path, config)
    execution.set(max(execution.progress, 0.05), "waiting for the market data lock")
    async with market_data.data_lock(directory, exclusive=True):
        execution.set(max(execution.progress, 0.1), f"downloading candles from {exchange}")
        await runner.freqtrade(
            execution,
            [
                "download-data", "-c", str(path), "--userdir", str(user_data),
                "--datadir", str(directory), "--pairs", *pairs, "--timeframes", *timeframes,
                "--timerange", timerange,
            ],
        )  # fmt: skip


async def run_download(
    runner: JobRunner, job: Job, execution: Execution, workdir: Path
) -> JobResult:
    params = DownloadRequest.model_validate(job.params)
    await _download(
        runner,
        execution,
        workdir,
        exchange=params.exchange,
        pairs=params.pairs,
        timeframes=params.timeframes,
        timerange=params.timerange,
    )
    files = await asyncio.to_thread(market_data.list_files, runner.settings, params.exchange)
    wanted = [f for f in files if f.pair in params.pairs and f.timeframe in params.timeframes]
    have = {(f.pair, f.timeframe) for f in wanted}
    missing = [f"{p} {t}" for p in params.pairs for t in params.timeframes if (p, t) not in have]
    if missing:
        raise JobFailed(
            f"freqtrade downloaded no candles for {', '.join(missing)}: "
            + _download_warnings(workdir)
        )
    return JobResult(files=[f.model_dump(mode="json") for f in wanted])


def _download_warnings(workdir: Path) -> str:
    try:
        lines = (workdir / "freqtrade.log").read_text(errors="replace").splitlines()
    except OSError:
        return "no reason given"
    warnings = [line.split(" - WARNING - ", 1)[1] for line in lines if " - WARNING - " in line]
    return "; ".join(warnings[-3:]) or "no reason given"


# --- backtests and hyperopt ----------------------------------------------------------------------


def startup_candles(code: str) -> int:
    """`startup_candle_count` from the strategy's source, without running it."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return DEFAULT_STARTUP_CANDLES
    for node in ast.walk(tree):
        target = None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        if (
            isinstance(target, ast.Name)
            and target.id == "startup_candle_count"
            and isinstance(value, ast.Constant)
            and isinstance(value.value, int)
        ):
            return max(0, value.value)
    return DEFAULT_STARTUP_CANDLES


def write_strategy(folder: Path, class_name: str, job: Job) -> None:
    """The strategy's code as <ClassName>.py and its saved parameter values beside it as
    <ClassName>.json, the file freqtrade reads them from (and hyperopt writes)."""
    (folder / f"{class_name}.py").write_text(job.strategy_code or "", encoding="utf-8")
    if job.strategy_parameters:
        document = {"strategy_name": class_name, "params": job.strategy_parameters}
        (folder / f"{class_name}.json").write_text(json.dumps(document, indent=2))


def _as_datetime(day: Any) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


async def _prepare(
    runner: JobRunner, job: Job, execution: Execution, workdir: Path, params: BacktestRun
) -> tuple[list[str], Path]:
    """The job's user directory, strategy file and config; candles fetched from the simulator
    when the range is not all there. Returns the freqtrade arguments every command shares."""
    from core_server.backtests.schemas import parse_timerange

    user_data = await asyncio.to_thread(_user_dir, workdir)
    strategies = user_data / "strategies"
    class_name = job.strategy_class or params.strategy
    await asyncio.to_thread(write_strategy, strategies, class_name, job)
    directory = market_data.exchange_dir(runner.settings, params.exchange)
    config: dict[str, Any] = {
        "strategy": class_name,
        "timeframe": params.timeframe,
        "stake_currency": params.stake_currency,
        "stake_amount": params.stake_amount,
        "dry_run": True,
        "dry_run_wallet": params.dry_run_wallet,
        "max_open_trades": params.max_open_trades,
        "trading_mode": "spot",
        "exchange": runner.exchange_config(params.exchange, params.pairs),
        "pairlists": [{"method": "StaticPairList"}],
        "entry_pricing": {"price_side": "same"},
        "exit_pricing": {"price_side": "same"},
        "user_data_dir": str(user_data),
        "datadir": str(directory),
    }
    config = deep_merge(config, params.config)
    path = workdir / "config.json"
    await asyncio.to_thread(write_config, path, config)

    if params.exchange == SIMULATOR:
        timerange = parse_timerange(params.timerange)
        start, end = _as_datetime(timerange.start), _as_datetime(timerange.end)
        warmup = timedelta(
            seconds=market_data.timeframe_seconds(params.timeframe)
            * startup_candles(job.strategy_code or "")
        )
        freqai = params.config.get("freqai") or {}
        if isinstance(freqai, dict) and freqai.get("enabled"):
            warmup += timedelta(days=float(freqai.get("train_period_days") or 0))
        first_needed = start - warmup
        missing = await asyncio.to_thread(
            market_data.missing_pairs, directory, params.pairs, params.timeframe, first_needed, end
        )
        if missing:
            day = first_needed.replace(hour=0, minute=0, second=0, microsecond=0)
            await _download(
                runner,
                execution,
                workdir,
                exchange=params.exchange,
                pairs=missing,
                timeframes=[params.timeframe],
                timerange=f"{day:%Y%m%d}-{end:%Y%m%d}",
            )
    args = [
        "-c", str(path), "--userdir", str(user_data), "--datadir", str(directory),
        "--strategy", class_name, "--strategy-path", str(strategies),
        "--timerange", params.timerange,
    ]  # fmt: skip
    if params.fee is not None:
        args += ["--fee", str(params.fee)]
    if params.enable_protections:
        args.append("--enable-protections")
    if params.freqai_model:
        args += ["--freqaimodel", params.freqai_model]
    return args, directory


def _relative(settings: Settings, path: Path) -> str:
    try:
        return str(path.resolve().relative_to(settings.data_dir.resolve()))
    except ValueError:
        return str(path)


async def run_backtest(
    runner: JobRunner, job: Job, execution: Execution, workdir: Path
) -> JobResult:
    params = BacktestRun.model_validate(job.params)
    args, directory = await _prepare(runner, job, execution, workdir, params)
    results_dir = workdir / "user_data" / "backtest_results"
    execution.markers = BACKTEST_MARKERS
    execution.set(0.3, "starting freqtrade backtesting")
    async with market_data.data_lock(directory, exclusive=False):
        await runner.freqtrade(
            execution,
            [
                "backtesting", *args, "--export", "trades",
                "--backtest-directory", str(results_dir), "--cache", "none",
            ],
        )  # fmt: skip
    execution.set(0.95, "storing results")
    try:
        found = await asyncio.to_thread(
            export.read_backtest_export, results_dir, job.strategy_class
        )
    except export.ExportError as exc:
        raise JobFailed(str(exc)) from exc
    summary = {**found.summary, "daily_profit": found.extra["daily_profit"]}
    summary["wallet_curve"] = found.extra["wallet_curve"]
    return JobResult(
        summary=summary,
        per_pair=found.per_pair,
        trades=found.trades,
        equity_curve=found.equity_curve,
        drawdown=found.drawdown,
        exit_reasons=found.exit_reasons,
        export_file=_relative(runner.settings, found.export_file),
    )


async def run_hyperopt(
    runner: JobRunner, job: Job, execution: Execution, workdir: Path
) -> JobResult:
    params = HyperoptRun.model_validate(job.params)
    args, directory = await _prepare(runner, job, execution, workdir, params)
    results_dir = workdir / "user_data" / "hyperopt_results"

    def probe() -> None:
        done = export.count_epochs(results_dir)
        execution.set(0.1 + 0.8 * done / params.epochs, f"epoch {done}/{params.epochs}")

    execution.probe = probe
    execution.set(0.1, "starting freqtrade hyperopt")
    command = [
        "hyperopt", *args, "--epochs", str(params.epochs), "--spaces", *params.spaces,
        "--hyperopt-loss", params.loss, "-j", "1",
    ]  # fmt: skip
    if params.random_state is not None:
        command += ["--random-state", str(params.random_state)]
    if params.min_trades is not None:
        command += ["--min-trades", str(params.min_trades)]
    async with market_data.data_lock(directory, exclusive=False):
        await runner.freqtrade(execution, command)
    execution.probe = None
    execution.set(0.92, "reading the best epoch")
    shown = await runner.freqtrade(
        execution,
        [
            "hyperopt-show", "-c", args[1], "--userdir", args[3], "--best", "--print-json",
            "--no-header",
        ],
        limit=600,
    )  # fmt: skip
    class_name = job.strategy_class or params.strategy
    parameter_path = workdir / "user_data" / "strategies" / f"{class_name}.json"
    try:
        found = await asyncio.to_thread(
            export.read_hyperopt_export, results_dir, shown.lines, parameter_path
        )
    except export.ExportError as exc:
        raise JobFailed(str(exc)) from exc
    return JobResult(
        summary={**found.summary, "spaces": params.spaces, "loss_function": params.loss},
        best_params=found.best_params,
        parameter_file=found.parameter_file,
    )


HANDLERS: dict[JobKind, Handler] = {
    JobKind.download: run_download,
    JobKind.backtest: run_backtest,
    JobKind.hyperopt: run_hyperopt,
}


def remove_job_files(settings: Settings, job_id: int) -> None:
    shutil.rmtree(jobs_root(settings) / str(job_id), ignore_errors=True)

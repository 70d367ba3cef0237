"""The bot manager: launches and stops managed bots and keeps each process matching what its
owner asked for (the desired state), across bot crashes and server restarts.

Every state change is a conditional UPDATE ("set starting where status is stopped"), so two
server processes, or a request and the supervisor, can never both launch or stop the same bot.
Only one process per data directory supervises (it holds DATA_DIR/supervisor.lock); requests
on any process may launch and stop bots, which are plain processes on this machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import secrets
import shutil
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core_server.activity import service as activity
from core_server.bots.files import BotPaths, BotSecrets, build_config, write_config
from core_server.bots.models import Bot, BotKind, BotStatus, DesiredState
from core_server.bots.runtime import BotRuntime, log_tail, port_is_free
from core_server.core.database import Database, utcnow
from core_server.core.errors import DomainError
from core_server.core.net_guard import GuardedTransport, OutboundPolicy
from core_server.core.security import Keys
from core_server.core.settings import Settings
from core_server.freqtrade.client import BotApiError, FreqtradeClient
from core_server.freqtrade.commands import config_error, run_freqtrade
from core_server.freqtrade.strategies import (
    StrategyCatalogue,
    copy_strategy_file,
    ensure_templates,
)
from core_server.realtime.bus import EventBus
from core_server.strategies import service as strategies

logger = logging.getLogger(__name__)
# Each bot gets a connection pool of its own: one pool for a whole fleet scans every kept-alive
# connection on each request (httpcore), which cost a quarter of the collector's CPU at 1,000
# bots. A bot sees at most a sync and a user's request at once.
PER_BOT_LIMITS = httpx.Limits(max_connections=4, max_keepalive_connections=2)
# ... sharing one TLS context: building one loads the CA bundle (65 ms and about 1 MB each).
_TLS = httpx.create_ssl_context()

MAX_BACKOFF_SECONDS = 120.0
READY_POLL_SECONDS = 0.5
SECRET_FIELDS = ("api_password", "jwt_secret", "ws_token", "exchange_key", "exchange_secret")


class PortsExhausted(DomainError):
    status_code = 503
    code = "NO_FREE_PORT"


class FreqtradeUnavailable(DomainError):
    status_code = 503
    code = "FREQTRADE_UNAVAILABLE"
    default_message = "freqtrade is not installed here: run `make install` or set FREQTRADE_BIN."


def backoff_seconds(restarts: int) -> float:
    """1, 2, 4, 8 ... seconds between automatic restarts, capped."""
    return float(min(2 ** max(restarts - 1, 0), MAX_BACKOFF_SECONDS))


class BotManager:
    def __init__(
        self,
        settings: Settings,
        database: Database,
        keys: Keys,
        runtime: BotRuntime,
        executable: Path | None,
        exchange_block: Any,
        policy: OutboundPolicy,
        bus: EventBus,
    ) -> None:
        self.settings = settings
        self.bus = bus
        self.database = database
        self.keys = keys
        self.runtime = runtime
        self._executable = executable
        # exchange name -> the `exchange` block of a freqtrade config
        self.exchange_block = exchange_block
        self.data_dir = settings.data_dir.resolve()
        self._timeout = httpx.Timeout(10.0, connect=3.0)
        self._policy = policy
        # For one-off calls to a bot not collected yet (checking an external bot's address).
        # External bots are reached only through the outbound policy, checked per connection.
        self.guarded_http = httpx.AsyncClient(
            timeout=self._timeout, transport=GuardedTransport(policy)
        )
        self._clients: dict[int, tuple[tuple[str, str, str], FreqtradeClient]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        # Bots whose start-up this process is waiting on.
        self._watching: set[int] = set()
        self._wake = asyncio.Event()
        self._supervisor: asyncio.Task[None] | None = None
        self._lock_file: IO[str] | None = None
        self._templates_lock = asyncio.Lock()
        self.on_trade_forced: Any = None
        # Called with a bot id when a bot turns running (the risk engine re-applies pauses).
        self.on_running: Any = None

    # --- secrets and clients -----------------------------------------------------------------

    def encrypt(self, bot_id: int, field: str, value: str) -> str:
        return self.keys.box.encrypt(value, context=f"bots:{bot_id}:{field}")

    def decrypt(self, bot: Bot, field: str) -> str | None:
        value = getattr(bot, field)
        if not value:
            return None
        return self.keys.box.decrypt(value, context=f"bots:{bot.id}:{field}")

    def new_credentials(self, bot: Bot) -> None:
        """Random API credentials for a managed bot (its id must be known)."""
        bot.api_username = f"multibot-{secrets.token_hex(4)}"
        bot.api_password = self.encrypt(bot.id, "api_password", secrets.token_urlsafe(24))
        bot.jwt_secret = self.encrypt(bot.id, "jwt_secret", secrets.token_hex(32))
        bot.ws_token = self.encrypt(bot.id, "ws_token", secrets.token_hex(32))

    def bot_secrets(self, bot: Bot) -> BotSecrets:
        return BotSecrets(
            api_password=self.decrypt(bot, "api_password") or "",
            jwt_secret=self.decrypt(bot, "jwt_secret") or "",
            ws_token=self.decrypt(bot, "ws_token") or "",
            exchange_key=self.decrypt(bot, "exchange_key"),
            exchange_secret=self.decrypt(bot, "exchange_secret"),
        )

    def base_url(self, bot: Bot) -> str:
        if bot.kind == BotKind.external:
            return bot.api_url or ""
        return f"http://127.0.0.1:{bot.api_port}"

    def client(self, bot: Bot) -> FreqtradeClient:
        """A client for the bot's API, reused while its address and credentials stay the same
        (so its login tokens are reused too)."""
        password = self.decrypt(bot, "api_password") or ""
        identity = (self.base_url(bot), bot.api_username, password)
        cached = self._clients.get(bot.id)
        if cached and cached[0] == identity:
            return cached[1]
        transport = httpx.AsyncHTTPTransport(limits=PER_BOT_LIMITS, verify=_TLS)
        http = httpx.AsyncClient(
            timeout=self._timeout,
            verify=_TLS,
            transport=(
                GuardedTransport(self._policy, transport)
                if bot.kind == BotKind.external
                else transport
            ),
        )
        client = FreqtradeClient(identity[0], identity[1], identity[2], http=http, owns_http=True)
        self.forget(bot.id)
        self._clients[bot.id] = (identity, client)
        return client

    def forget(self, bot_id: int) -> None:
        """Drop the bot's client and close its connections (in the background)."""
        cached = self._clients.pop(bot_id, None)
        if cached is not None:
            self.spawn_task(cached[1].aclose())

    # --- files and validation ----------------------------------------------------------------

    @property
    def executable(self) -> Path:
        if self._executable is None:
            raise FreqtradeUnavailable()
        return self._executable

    def paths(self, bot_id: int) -> BotPaths:
        return BotPaths.of(self.data_dir, bot_id)

    async def catalogue(self) -> StrategyCatalogue:
        async with self._templates_lock:
            templates = await ensure_templates(
                self.executable, self.data_dir / "freqtrade" / "templates"
            )
        library = self.data_dir / "strategies"
        library.mkdir(parents=True, exist_ok=True)
        return StrategyCatalogue([library, templates])

    async def allocate_port(self, session: AsyncSession, *, avoid: Sequence[int] = ()) -> int:
        taken = set((await session.execute(select(Bot.api_port))).scalars()) | set(avoid)
        start, end = self.settings.bot_port_range_start, self.settings.bot_port_range_end
        for port in range(start, end + 1):
            if port not in taken and port_is_free(port):
                return port
        raise PortsExhausted(f"No free port left in {start}-{end} for another bot.")

    async def write_files(self, bot: Bot, overrides: dict[str, Any] | None = None) -> BotPaths:
        """The bot's directory, strategy file and config, ready for `freqtrade trade`."""
        paths = self.paths(bot.id)
        await asyncio.to_thread(paths.create)
        if bot.strategy_version_id is not None:
            # The pinned version's code, not whatever the library holds now.
            async with self.database.transaction() as session:
                pinned = await strategies.snapshot_of_version(session, bot.strategy_version_id)
            if pinned is None:
                raise FileNotFoundError(
                    f"version {bot.strategy_version} of strategy {bot.strategy_name} is gone"
                )
            await asyncio.to_thread(pinned.write_to, paths.strategies)
        else:
            strategy = (await self.catalogue()).find(bot.strategy_name)
            if strategy is None:
                raise FileNotFoundError(f"strategy {bot.strategy_name} is not in the library")
            await asyncio.to_thread(copy_strategy_file, strategy, paths.strategies)
        config = build_config(
            bot,
            paths,
            self.exchange_block(bot.exchange),
            bot.config if overrides is None else overrides,
        )
        await asyncio.to_thread(write_config, paths.config, config)
        return paths

    async def check_config(self, bot: Bot, overrides: dict[str, Any]) -> str | None:
        """freqtrade's own verdict on the config the bot would run with, or None when it is
        accepted. Runs `freqtrade show-config` on a throw-away copy."""
        scratch = self.data_dir / "tmp" / f"check-{secrets.token_hex(6)}"
        try:
            paths = BotPaths(scratch)
            await asyncio.to_thread(paths.create)
            config = build_config(bot, paths, self.exchange_block(bot.exchange), overrides)
            await asyncio.to_thread(write_config, paths.config, config)
            env = BotSecrets(
                api_password=secrets.token_urlsafe(16),
                jwt_secret=secrets.token_hex(32),
                ws_token=secrets.token_hex(32),
            ).environment()
            result = await run_freqtrade(
                self.executable,
                ["show-config", "--config", str(paths.config), "--userdir", str(paths.user_data)],
                limit_seconds=60,
                env=env,
            )
            return config_error(result)
        finally:
            await asyncio.to_thread(shutil.rmtree, scratch, True)

    # --- state changes -----------------------------------------------------------------------

    async def _claim(
        self, session: AsyncSession, bot_id: int, from_states: Sequence[str], **values: Any
    ) -> bool:
        result = await session.execute(
            update(Bot)
            .where(Bot.id == bot_id, Bot.status.in_(list(from_states)))
            .values(**values, updated_at=utcnow())
        )
        return bool(getattr(result, "rowcount", 0) == 1)

    async def claim_start(self, session: AsyncSession, bot: Bot) -> bool:
        """Mark a stopped or failed bot starting; False when it is busy or already up."""
        return await self._claim(
            session,
            bot.id,
            (BotStatus.stopped, BotStatus.error),
            status=BotStatus.starting,
            desired_state=DesiredState.running,
            last_error=None,
            restart_count=0,
            next_restart_at=None,
            started_at=utcnow(),
        )

    async def claim_stop(self, session: AsyncSession, bot: Bot) -> bool:
        return await self._claim(
            session,
            bot.id,
            (BotStatus.running, BotStatus.starting, BotStatus.error),
            status=BotStatus.stopping,
            desired_state=DesiredState.stopped,
        )

    async def _status_event(
        self, session: AsyncSession, bot: Bot, status: BotStatus, detail: str | None = None
    ) -> None:
        summary = f"{bot.name} is {status.value}" + (f": {detail}" if detail else "")
        await activity.record(
            session,
            self.bus,
            type="bot.status",
            summary=summary,
            owner_id=bot.owner_id,
            bot_id=bot.id,
            payload={"status": status.value, "detail": detail},
        )

    def spawn_task(self, coroutine: Any) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def launch(self, bot_id: int) -> None:
        """Start the process of a bot already marked starting, then wait for its API."""
        try:
            async with self.database.transaction() as session:
                bot = await session.get(Bot, bot_id)
                if bot is None or bot.status != BotStatus.starting:
                    return
                if bot.api_port is None or not port_is_free(bot.api_port):
                    # Something else took the port since: move the bot rather than fail.
                    bot.api_port = await self.allocate_port(session, avoid=[bot.api_port or 0])
            # Files are written outside the transaction: it must not hold the write lock.
            paths = await self.write_files(bot)
            pid = await self.runtime.spawn(paths, self.bot_secrets(bot).environment())
        except Exception as exc:
            logger.exception("bot %s could not be launched", bot_id)
            await self._fail(bot_id, None, f"could not start: {exc}", count_restart=False)
            return
        async with self.database.transaction() as session:
            await session.execute(
                update(Bot)
                .where(Bot.id == bot_id, Bot.status == BotStatus.starting)
                .values(pid=pid, started_at=utcnow())
            )
        await self._await_ready(bot_id, pid)

    async def _await_ready(self, bot_id: int, pid: int) -> None:
        if bot_id in self._watching:
            return
        self._watching.add(bot_id)
        try:
            await self._wait_for_api(bot_id, pid)
        finally:
            self._watching.discard(bot_id)

    async def _wait_for_api(self, bot_id: int, pid: int) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.bot_start_timeout_seconds
        paths = self.paths(bot_id)
        while loop.time() < deadline:
            if not self.runtime.is_alive(pid, paths):
                await self._fail(bot_id, pid, "freqtrade exited during start-up")
                return
            async with self.database.transaction() as session:
                bot = await session.get(Bot, bot_id)
                if bot is None or bot.status != BotStatus.starting or bot.pid != pid:
                    return  # stopped or deleted meanwhile
                client = self.client(bot)
            with contextlib.suppress(BotApiError):
                if (await client.ping()).status == "pong":
                    async with self.database.transaction() as session:
                        if await self._claim(
                            session, bot_id, (BotStatus.starting,), status=BotStatus.running
                        ):
                            await self._status_event(session, bot, BotStatus.running)
                    if self.on_running is not None:
                        self.spawn_task(self.on_running(bot_id))
                    logger.info("bot %s is running (pid %s)", bot_id, pid)
                    return
            await asyncio.sleep(READY_POLL_SECONDS)
        await self.runtime.terminate(pid, paths, self.settings.bot_stop_timeout_seconds)
        await self._fail(
            bot_id,
            pid,
            f"freqtrade's API did not answer in {self.settings.bot_start_timeout_seconds:.0f} s",
        )

    async def _fail(
        self, bot_id: int, pid: int | None, reason: str, *, count_restart: bool = True
    ) -> None:
        """Mark the bot failed with its last log lines, and plan an automatic restart when it
        should be running and the restart limit allows."""
        tail = await asyncio.to_thread(log_tail, self.paths(bot_id).log)
        async with self.database.transaction() as session:
            bot = await session.get(Bot, bot_id)
            if bot is None or (pid is not None and bot.pid != pid):
                return
            restarts = bot.restart_count + (1 if count_restart else 0)
            retry = (
                bot.desired_state == DesiredState.running
                and count_restart
                and restarts <= self.settings.bot_restart_limit
            )
            message = reason if not tail else f"{reason}\n--- last log lines ---\n{tail}"
            if count_restart and not retry and bot.desired_state == DesiredState.running:
                message = f"{message}\n--- gave up after {restarts - 1} automatic restarts ---"
            bot.status = BotStatus.error
            bot.pid = None
            bot.last_error = message[-8000:]
            bot.restart_count = restarts
            bot.stopped_at = utcnow()
            bot.next_restart_at = (
                utcnow() + timedelta(seconds=backoff_seconds(restarts)) if retry else None
            )
            await self._status_event(session, bot, BotStatus.error, reason)
        logger.warning("bot %s failed: %s", bot_id, reason)
        self._wake.set()

    async def halt(self, bot_id: int) -> None:
        """End the process of a bot marked stopping and mark it stopped."""
        async with self.database.transaction() as session:
            bot = await session.get(Bot, bot_id)
            if bot is None:
                return
            pid = bot.pid
        if pid is not None:
            await self.runtime.terminate(
                pid, self.paths(bot_id), self.settings.bot_stop_timeout_seconds
            )
        async with self.database.transaction() as session:
            if (
                await self._claim(
                    session,
                    bot_id,
                    (BotStatus.stopping,),
                    status=BotStatus.stopped,
                    pid=None,
                    stopped_at=utcnow(),
                )
                and (bot := await session.get(Bot, bot_id)) is not None
            ):
                await self._status_event(session, bot, BotStatus.stopped)

    async def restart(self, bot_id: int) -> None:
        await self.halt(bot_id)
        async with self.database.transaction() as session:
            bot = await session.get(Bot, bot_id)
            claimed = bot is not None and await self.claim_start(session, bot)
        if claimed:
            await self.launch(bot_id)

    async def end_process(self, bot: Bot) -> None:
        """Make sure no process of this bot survives (before it is deleted)."""
        if bot.pid is not None:
            await self.runtime.terminate(
                bot.pid, self.paths(bot.id), self.settings.bot_stop_timeout_seconds
            )
        self.forget(bot.id)

    # --- supervision -------------------------------------------------------------------------

    @property
    def is_supervisor(self) -> bool:
        return self._lock_file is not None

    def _become_supervisor(self) -> bool:
        """One supervisor per data directory, whichever server process locks it first."""
        if self._lock_file is not None:
            return True
        self.data_dir.mkdir(parents=True, exist_ok=True)
        handle = open(self.data_dir / "supervisor.lock", "w")  # noqa: SIM115 - held while we run
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._lock_file = handle
        return True

    async def supervise_once(self) -> None:
        now = utcnow()
        async with self.database.transaction() as session:
            rows = (
                await session.execute(
                    select(
                        Bot.id,
                        Bot.status,
                        Bot.desired_state,
                        Bot.pid,
                        Bot.started_at,
                        Bot.next_restart_at,
                    )
                    .where(Bot.kind == BotKind.managed)
                    .where(
                        (Bot.status != BotStatus.stopped)
                        | (Bot.desired_state == DesiredState.running)
                    )
                )
            ).all()
        for bot_id, status, desired, pid, started_at, next_restart_at in rows:
            try:
                await self._supervise_bot(
                    bot_id, status, desired, pid, started_at, next_restart_at, now
                )
            except Exception:
                logger.exception("supervising bot %s failed", bot_id)

    async def _supervise_bot(
        self,
        bot_id: int,
        status: str,
        desired: str,
        pid: int | None,
        started_at: datetime | None,
        next_restart_at: datetime | None,
        now: datetime,
    ) -> None:
        paths = self.paths(bot_id)
        alive = pid is not None and self.runtime.is_alive(pid, paths)
        if status == BotStatus.running and not alive:
            await self._fail(bot_id, pid, "freqtrade exited unexpectedly")
        elif status == BotStatus.starting and pid is not None:
            started = started_at or now
            overdue = now - started > timedelta(seconds=self.settings.bot_start_timeout_seconds)
            if not alive:
                await self._fail(bot_id, pid, "freqtrade exited during start-up")
            elif overdue:
                await self.runtime.terminate(pid, paths, self.settings.bot_stop_timeout_seconds)
                await self._fail(bot_id, pid, "freqtrade's API never answered")
            elif bot_id not in self._watching:
                # Adopted after a server restart: nobody here is waiting for it yet.
                self.spawn_task(self._await_ready(bot_id, pid))
        elif status == BotStatus.starting and pid is None and started_at is not None:
            if now - started_at > timedelta(seconds=30):
                # Marked starting by a process that died before it launched anything.
                async with self.database.transaction() as session:
                    await self._claim(
                        session,
                        bot_id,
                        (BotStatus.starting,),
                        status=BotStatus.error,
                        last_error="start was interrupted",
                    )
                self._wake.set()
        elif status == BotStatus.stopping and (pid is None or not alive):
            async with self.database.transaction() as session:
                await self._claim(
                    session,
                    bot_id,
                    (BotStatus.stopping,),
                    status=BotStatus.stopped,
                    pid=None,
                    stopped_at=now,
                )
        elif status == BotStatus.error and desired == DesiredState.running:
            if alive and pid is not None:
                await self.runtime.terminate(pid, paths, self.settings.bot_stop_timeout_seconds)
            if next_restart_at is not None and next_restart_at <= now:
                async with self.database.transaction() as session:
                    claimed = await self._claim(
                        session,
                        bot_id,
                        (BotStatus.error,),
                        status=BotStatus.starting,
                        pid=None,
                        started_at=now,
                        next_restart_at=None,
                    )
                if claimed:
                    logger.info("restarting bot %s", bot_id)
                    self.spawn_task(self.launch(bot_id))
        elif status == BotStatus.stopped and desired == DesiredState.running:
            async with self.database.transaction() as session:
                claimed = await self._claim(
                    session,
                    bot_id,
                    (BotStatus.stopped,),
                    status=BotStatus.starting,
                    started_at=now,
                    pid=None,
                )
            if claimed:
                self.spawn_task(self.launch(bot_id))
        elif desired == DesiredState.stopped and alive and pid is not None:
            # A process that should not run (its stop was interrupted): end it.
            await self.runtime.terminate(pid, paths, self.settings.bot_stop_timeout_seconds)

    async def _supervise_forever(self) -> None:
        while True:
            if self._become_supervisor():
                try:
                    await self.supervise_once()
                except Exception:
                    logger.exception("bot supervision round failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._wake.wait(), timeout=self.settings.supervisor_interval_seconds
                )
            self._wake.clear()

    def poke_collector(self, bot_id: int) -> None:
        """Ask the collector (when this process runs it) to sync a bot now."""
        if self.on_trade_forced is not None:
            self.on_trade_forced(bot_id)

    def wake(self) -> None:
        """Run a supervision round now rather than at the next interval."""
        self._wake.set()

    def start_supervisor(self) -> None:
        self._supervisor = asyncio.get_running_loop().create_task(self._supervise_forever())

    async def close(self) -> None:
        """Stop supervising. Bot processes keep running: the next server adopts them."""
        tasks = [t for t in (self._supervisor, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for _, client in self._clients.values():
            await client.aclose()
        self._clients.clear()
        await self.guarded_http.aclose()
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

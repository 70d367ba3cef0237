"""The collector: for every running bot, listen to its message websocket and poll its REST API,
mirror its trades into our database, snapshot its equity, and keep its latest state in the
cache. No API request ever waits on a bot: requests read what the collector stored.

Each bot has its own task, so a slow or dead bot only delays itself (with growing back-off);
a semaphore bounds how many bots are polled at once. REST is the source of truth: a websocket
message only makes the bot's next sync happen now. Trade events are recorded when a mirrored
row changes, so they are never lost (a restart re-reads the bot's history) nor doubled.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import websockets
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core_server.activity import service as activity
from core_server.bots.manager import BotManager
from core_server.bots.models import Bot, BotKind, BotStatus
from core_server.collector.cache import LiveStateCache
from core_server.collector.models import EquitySnapshot, MirroredTrade
from core_server.collector.schemas import BotLiveState, OpenTradeBrief
from core_server.core.database import Database, utcnow
from core_server.freqtrade.client import BotApiError, FreqtradeClient
from core_server.freqtrade.schemas import Trade
from core_server.realtime.bus import EventBus

logger = logging.getLogger(__name__)

TRADE_MESSAGES = ["entry", "entry_fill", "entry_cancel", "exit", "exit_fill", "exit_cancel"]
TRADES_PAGE = 500
# Re-read this many of the newest mirrored trades on each history sync, to catch late changes.
HISTORY_OVERLAP = 20
SNAPSHOT_EVERY = timedelta(seconds=60)
MAX_BACKOFF_SECONDS = 60.0
UNHEALTHY_AFTER_FAILURES = 3


def _decimal(value: Any) -> Decimal:
    try:
        return Decimal(str(value)) if value is not None else Decimal(0)
    except InvalidOperation:
        return Decimal(0)


def _from_ms(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC) if value else None
    except (TypeError, ValueError, OverflowError):
        return None


def _when(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class BotCollector:
    """Collection for one bot, run as its own task."""

    def __init__(self, fleet: Collector, bot_id: int, owner_id: int) -> None:
        self.fleet = fleet
        self.bot_id = bot_id
        self.owner_id = owner_id
        self.wake = asyncio.Event()
        self.failures = 0
        self.rounds = 0
        self.last_snapshot: datetime | None = None
        self.synced_history = False
        # Set by a trade message or a forced trade: the next sync re-reads the trade history.
        self.wake_reason_trades = False

    async def run(self) -> None:
        listener = asyncio.get_running_loop().create_task(self._listen())
        try:
            loop = asyncio.get_running_loop()
            while True:
                started = loop.time()
                await self._sync_round()
                # A fixed rate, not a fixed pause: a bot's state is never older than the interval
                # plus one sync, however long the sync took.
                delay = self.fleet.interval * (2 ** min(self.failures, 6)) - (loop.time() - started)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self.wake.wait(), max(0.0, min(delay, MAX_BACKOFF_SECONDS))
                    )
                self.wake.clear()
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await listener

    async def _bot(self) -> Bot | None:
        async with self.fleet.database.transaction() as session:
            return await session.get(Bot, self.bot_id)

    async def _sync_round(self) -> None:
        bot = await self._bot()
        if bot is None:
            return
        client = self.fleet.manager.client(bot)
        try:
            async with self.fleet.semaphore:
                await asyncio.wait_for(self._sync(bot, client), self.fleet.sync_timeout)
        except (BotApiError, TimeoutError, ValueError) as exc:
            self.failures += 1
            message = exc.message if isinstance(exc, BotApiError) else f"{type(exc).__name__}"
            await self._mark_unhealthy(bot, message)
            return
        self.failures = 0

    async def _mark_unhealthy(self, bot: Bot, message: str) -> None:
        previous = (await self.fleet.cache.get_many([bot.id])).get(bot.id)
        state = previous or BotLiveState(bot_id=bot.id, owner_id=bot.owner_id, healthy=False)
        state.healthy = self.failures < UNHEALTHY_AFTER_FAILURES and state.healthy
        state.last_error = message
        state.consecutive_failures = self.failures
        await self.fleet.cache.put(state)

    async def _sync(self, bot: Bot, client: FreqtradeClient) -> None:
        self.rounds += 1
        open_trades = await client.status()
        profit = await client.profit()
        balance = await client.balance()
        history: list[Trade] = []
        if (
            not self.synced_history
            or self.wake_reason_trades
            or self.rounds % 12 == 0
            or await self._closed_since_last_sync(bot, open_trades)
        ):
            history = await self._history(bot, client)
            self.synced_history = True
            self.wake_reason_trades = False
        now = utcnow()
        async with self.fleet.database.transaction() as session:
            await self.fleet.mirror(session, bot, [*history, *open_trades], open_trades)
            if self.last_snapshot is None or now - self.last_snapshot >= SNAPSHOT_EVERY:
                session.add(
                    EquitySnapshot(
                        bot_id=bot.id,
                        owner_id=bot.owner_id,
                        taken_at=now,
                        stake_currency=bot.stake_currency,
                        equity=_decimal(balance.total),
                        free=_decimal(_stake_free(balance.model_dump(), bot.stake_currency)),
                        profit_closed=_decimal(profit.profit_closed_coin),
                        profit_open=_decimal(profit.profit_all_coin)
                        - _decimal(profit.profit_closed_coin),
                        open_trades=len(open_trades),
                    )
                )
                self.last_snapshot = now
        await self.fleet.cache.put(
            BotLiveState(
                bot_id=bot.id,
                owner_id=bot.owner_id,
                healthy=True,
                collected_at=now,
                stake_currency=bot.stake_currency,
                equity=_decimal(balance.total),
                free=_decimal(_stake_free(balance.model_dump(), bot.stake_currency)),
                starting_capital=_decimal(balance.starting_capital),
                profit_closed=_decimal(profit.profit_closed_coin),
                profit_open=_decimal(profit.profit_all_coin) - _decimal(profit.profit_closed_coin),
                trade_count=profit.trade_count,
                closed_trade_count=profit.closed_trade_count,
                winning_trades=profit.winning_trades,
                losing_trades=profit.losing_trades,
                open_trades=[
                    OpenTradeBrief(
                        trade_id=t.trade_id,
                        pair=t.pair,
                        stake_amount=t.stake_amount or 0.0,
                        profit_abs=t.profit_abs or 0.0,
                        profit_ratio=t.profit_ratio or 0.0,
                        open_date=t.open_date,
                    )
                    for t in open_trades
                ],
            )
        )
        await self.fleet.after_sync(bot)

    async def _closed_since_last_sync(self, bot: Bot, open_trades: list[Trade]) -> bool:
        """A trade we hold as open that the bot no longer lists as open has closed: read the
        history now rather than at the next periodic read (the websocket may be down)."""
        async with self.fleet.database.transaction() as session:
            held_open = set(
                (
                    await session.execute(
                        select(MirroredTrade.ft_trade_id).where(
                            MirroredTrade.bot_id == bot.id, MirroredTrade.is_open
                        )
                    )
                ).scalars()
            )
        return bool(held_open - {trade.trade_id for trade in open_trades})

    async def _history(self, bot: Bot, client: FreqtradeClient) -> list[Trade]:
        """Every trade since the newest ones we hold (all of them the first time): the gap a
        restart of ours, or of Redis, left is filled from the bot's own history."""
        async with self.fleet.database.transaction() as session:
            known = (
                await session.execute(
                    select(func.count(MirroredTrade.id)).where(MirroredTrade.bot_id == bot.id)
                )
            ).scalar_one()
        offset = max(0, known - HISTORY_OVERLAP)
        trades: list[Trade] = []
        while True:
            page = await client.trades(limit=TRADES_PAGE, offset=offset)
            trades.extend(page.trades)
            offset += len(page.trades)
            if not page.trades or offset >= page.total_trades:
                return trades

    async def _listen(self) -> None:
        """The bot's message websocket: any trade message makes the next sync happen now."""
        delay = 1.0
        while True:
            bot = await self._bot()
            if bot is None:
                return
            try:
                url = await self.fleet.websocket_url(bot)
                async with websockets.connect(url, open_timeout=5, close_timeout=2) as ws:
                    await ws.send(json.dumps({"type": "subscribe", "data": TRADE_MESSAGES}))
                    delay = 1.0
                    async for raw in ws:
                        message = json.loads(raw)
                        if message.get("type") in TRADE_MESSAGES:
                            self.wake_reason_trades = True
                            self.wake.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a websocket that fails only slows us to polling
                logger.debug("bot %s websocket: %s", self.bot_id, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF_SECONDS)


def _stake_free(balance: dict[str, Any], stake: str) -> Any:
    for currency in balance.get("currencies", []):
        if currency.get("currency") == stake:
            return currency.get("free")
    return None


class Collector:
    def __init__(
        self,
        database: Database,
        manager: BotManager,
        bus: EventBus,
        cache: LiveStateCache,
        *,
        interval: float = 5.0,
        concurrency: int = 50,
        sync_timeout: float = 15.0,
    ) -> None:
        self.database = database
        self.manager = manager
        self.bus = bus
        self.cache = cache
        self.interval = interval
        self.sync_timeout = sync_timeout
        self.semaphore = asyncio.Semaphore(concurrency)
        self._bots: dict[int, tuple[BotCollector, asyncio.Task[None]]] = {}
        self._task: asyncio.Task[None] | None = None
        self.after_sync_hooks: list[Any] = []

    async def websocket_url(self, bot: Bot) -> str:
        base = self.manager.base_url(bot).replace("http://", "ws://").replace("https://", "wss://")
        token = self.manager.decrypt(bot, "ws_token")
        if token is None:  # an external bot: its access token works as a ws token too
            client = self.manager.client(bot)
            await client.show_config()
            token = client.access_token or ""
        return f"{base}/api/v1/message/ws?token={token}"

    async def mirror(
        self, session: AsyncSession, bot: Bot, trades: list[Trade], open_now: list[Trade]
    ) -> None:
        """Upsert the bot's trades; record an event for each trade that opened or closed."""
        latest: dict[int, Trade] = {}
        for trade in trades:
            latest[trade.trade_id] = trade
        for trade in open_now:  # /status has the live profit of open trades
            latest[trade.trade_id] = trade
        if not latest:
            return
        existing = {
            row.ft_trade_id: row
            for row in (
                await session.execute(
                    select(MirroredTrade).where(
                        MirroredTrade.bot_id == bot.id, MirroredTrade.ft_trade_id.in_(list(latest))
                    )
                )
            ).scalars()
        }
        for trade_id, trade in latest.items():
            row = existing.get(trade_id)
            was_open = row.is_open if row is not None else None
            if row is None:
                row = MirroredTrade(bot_id=bot.id, owner_id=bot.owner_id, ft_trade_id=trade_id)
                session.add(row)
            _apply(row, trade, bot)
            if was_open is None and row.is_open:
                await self._trade_event(session, bot, row, "trade.entry")
            elif (was_open is None or was_open) and not row.is_open:
                await self._trade_event(session, bot, row, "trade.exit")

    async def _trade_event(
        self, session: AsyncSession, bot: Bot, row: MirroredTrade, kind: str
    ) -> None:
        if kind == "trade.entry":
            summary = (
                f"{bot.name}: entered {row.pair} for {row.stake_amount:.2f} {row.stake_currency}"
            )
        else:
            summary = (
                f"{bot.name}: exited {row.pair} ({row.exit_reason or 'exit'}), "
                f"profit {row.profit_abs:+.4f} {row.stake_currency}"
            )
        await activity.record(
            session,
            self.bus,
            type=kind,
            summary=summary,
            owner_id=bot.owner_id,
            bot_id=bot.id,
            payload={
                "trade_id": row.ft_trade_id,
                "pair": row.pair,
                "is_open": row.is_open,
                "stake_amount": float(row.stake_amount),
                "open_rate": float(row.open_rate),
                "close_rate": float(row.close_rate) if row.close_rate is not None else None,
                "profit_abs": float(row.profit_abs),
                "profit_ratio": float(row.profit_ratio),
                "exit_reason": row.exit_reason,
            },
        )

    async def after_sync(self, bot: Bot) -> None:
        for hook in self.after_sync_hooks:
            try:
                await hook(bot)
            except Exception:
                logger.exception("after-sync hook failed for bot %s", bot.id)

    async def _eligible(self) -> dict[int, int]:
        async with self.database.transaction() as session:
            rows = await session.execute(
                select(Bot.id, Bot.owner_id).where(
                    ((Bot.kind == BotKind.managed) & (Bot.status == BotStatus.running))
                    | ((Bot.kind == BotKind.external) & Bot.is_active)
                )
            )
            return {int(row[0]): int(row[1]) for row in rows.all()}

    async def reconcile(self) -> None:
        """Collect exactly the bots that run: start tasks for new ones, end the others'."""
        eligible = await self._eligible()
        for bot_id in set(self._bots) - set(eligible):
            _, task = self._bots.pop(bot_id)
            task.cancel()
        for bot_id, owner_id in eligible.items():
            if bot_id not in self._bots:
                collector = BotCollector(self, bot_id, owner_id)
                task = asyncio.get_running_loop().create_task(collector.run())
                self._bots[bot_id] = (collector, task)

    def poke(self, bot_id: int) -> None:
        """Sync this bot now (a trade was just forced through our API)."""
        entry = self._bots.get(bot_id)
        if entry is not None:
            entry[0].wake_reason_trades = True
            entry[0].wake.set()

    async def _run(self) -> None:
        while True:
            try:
                # One collector per install: the process that supervises the bots.
                if self.manager.is_supervisor:
                    await self.reconcile()
            except Exception:
                logger.exception("collector reconcile failed")
            await asyncio.sleep(1.0)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        tasks = [task for _, task in self._bots.values()]
        if self._task is not None:
            tasks.append(self._task)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._bots.clear()


def _apply(row: MirroredTrade, trade: Trade, bot: Bot) -> None:
    extra = trade.model_extra or {}
    row.pair = trade.pair
    row.base_currency = str(extra.get("base_currency") or trade.pair.split("/")[0])[:20]
    row.stake_currency = str(extra.get("quote_currency") or bot.stake_currency)[:10]
    row.strategy = (extra.get("strategy") or bot.strategy_name or "")[:100] or None
    row.enter_tag = (trade.enter_tag or "")[:100] or None
    row.exit_reason = (trade.exit_reason or "")[:100] or None
    row.is_open = trade.is_open
    row.is_short = bool(extra.get("is_short", False))
    row.amount = _decimal(trade.amount)
    row.stake_amount = _decimal(trade.stake_amount)
    row.open_rate = _decimal(trade.open_rate)
    row.close_rate = _decimal(trade.close_rate) if trade.close_rate is not None else None
    row.profit_abs = _decimal(trade.profit_abs)
    row.profit_ratio = _decimal(trade.profit_ratio)
    # freqtrade's date strings carry no zone; its millisecond timestamps are UTC.
    row.open_date = _from_ms(extra.get("open_timestamp")) or _when(trade.open_date) or utcnow()
    row.close_date = _from_ms(extra.get("close_timestamp")) or _when(trade.close_date)
    row.synced_at = utcnow()

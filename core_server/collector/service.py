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
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import websockets
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core_server.activity import service as activity
from core_server.bots.manager import BotManager
from core_server.bots.models import Bot, BotKind, BotStatus
from core_server.collector.cache import LiveStateCache
from core_server.collector.models import EquitySnapshot, MirroredTrade
from core_server.collector.retention import SnapshotRetention
from core_server.collector.schemas import BotLiveState, OpenTradeBrief
from core_server.core.database import Database, utcnow
from core_server.freqtrade.client import BotApiError, FreqtradeClient
from core_server.freqtrade.schemas import Trade
from core_server.realtime.bus import EventBus

logger = logging.getLogger(__name__)

TRADE_MESSAGES = ["entry", "entry_fill", "entry_cancel", "exit", "exit_fill", "exit_cancel"]
# Messages after which the closed-trade history has news (entries show up in /status).
EXIT_MESSAGES = frozenset({"exit", "exit_fill", "exit_cancel"})
# A trade's messages come in bursts (entry, then entry_fill a moment later): wait this long
# after the first so one sync sees them all.
COALESCE_SECONDS = 0.03
TRADES_PAGE = 500
# Re-read this many of the newest closed trades on each history read, to catch late changes.
HISTORY_OVERLAP = 3
KEEP_FINGERPRINTS = 64
# /profit and /balance every 6th round (30 s at the default interval), or when a trade moved.
WALLET_EVERY_ROUNDS = 6
# The history at least every 12th round: a trade that opened and closed between two rounds.
HISTORY_EVERY_ROUNDS = 12
SNAPSHOT_SECONDS = 60.0
DB_SLOTS = 8
# How far an attached bot's clock may run behind ours without its first trades going unreported.
CLOCK_SKEW = timedelta(minutes=1)
MAX_BACKOFF_SECONDS = 60.0
UNHEALTHY_AFTER_FAILURES = 3
# A message websocket that stays up this long is sound; one that closes sooner, again and again,
# makes the bot unhealthy (its trades are then seen only by polling, seconds later).
WEBSOCKET_STABLE_SECONDS = 10.0


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


@dataclass(frozen=True)
class _Wallet:
    """The bot's /profit and /balance at one sync. Between two reads (every few rounds) the
    equity moves only with the open trades' profit, which every round's /status has."""

    equity: Decimal
    free: Decimal
    starting_capital: Decimal
    profit_closed: Decimal
    profit_open: Decimal
    open_profit_from_status: Decimal  # the sum over /status at the same sync
    trade_count: int
    closed_trade_count: int
    winning_trades: int
    losing_trades: int


def _open_profit(open_trades: list[Trade]) -> Decimal:
    return sum((_decimal(t.profit_abs) for t in open_trades), Decimal(0))


def _fingerprint(trade: Trade) -> tuple[Any, ...]:
    """What makes a mirrored row worth writing again. An open trade's profit moves every tick
    and lives in the live state; its row is refreshed with each equity snapshot instead."""
    extra = trade.model_extra or {}
    return (
        trade.is_open,
        trade.pair,
        trade.amount,
        trade.stake_amount,
        trade.open_rate,
        trade.close_rate,
        trade.exit_reason,
        trade.enter_tag,
        extra.get("close_timestamp") or trade.close_date,
        None if trade.is_open else (trade.profit_abs, trade.profit_ratio),
    )


class BotCollector:
    """Collection for one bot, run as its own task.

    A round is one `/status` call and, when nothing changed, no database work at all: what the
    bot last reported is kept here (its open trades, the fingerprint of every row we wrote, its
    wallet), so a quiet bot costs one HTTP call and one cache write per interval. `/profit` and
    `/balance` are read every `WALLET_EVERY_ROUNDS` rounds or as soon as a trade opens or closes;
    the trade history only when a trade closed, a trade message came, or every
    `HISTORY_EVERY_ROUNDS` rounds, and then only from the newest closed trades we hold."""

    def __init__(self, fleet: Collector, bot: Bot) -> None:
        self.fleet = fleet
        self.bot = bot
        self.wake = asyncio.Event()
        self.failures = 0
        self.rounds = 0
        self.last_snapshot: float | None = None
        # Set by a trade message or a forced trade: the next sync happens at once, reads the
        # wallet, and (after an exit) the history.
        self.urgent = False
        self.history_due = False
        self.state: BotLiveState | None = None
        self._wallet: _Wallet | None = None
        self._wallet_round = 0
        self._open_ids: set[int] | None = None  # None until read from the mirror
        self._closed_held = 0
        self._written: dict[int, tuple[Any, ...]] = {}
        self._websocket_since: float | None = None  # when the current websocket opened
        self.websocket_failures = 0

    @property
    def bot_id(self) -> int:
        return self.bot.id

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        listener = loop.create_task(self._listen())
        try:
            # Spread the fleet's rounds over the interval instead of syncing every bot at once.
            next_round = loop.time() + random.uniform(0, self.fleet.interval)  # noqa: S311
            woken_early = await self._sleep_until(next_round)
            while True:
                await self._sync_round()
                if not woken_early:
                    # A fixed rate, not a fixed pause: rounds start every interval however long
                    # one took, so a bot's state is never older than the interval. A round a
                    # trade woke early leaves the schedule as it was.
                    step = self.fleet.interval * (2 ** min(self.failures, 6))
                    step = max(self.fleet.interval, min(step, MAX_BACKOFF_SECONDS))
                    next_round = max(next_round + step, loop.time())
                woken_early = await self._sleep_until(next_round)
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await listener

    async def _sleep_until(self, deadline: float) -> bool:
        """Sleep until the deadline, or until a trade wakes the bot (True: sync now)."""
        delay = deadline - asyncio.get_running_loop().time()
        woken = False
        if delay > 0:
            try:
                await asyncio.wait_for(self.wake.wait(), delay)
                woken = True
                await asyncio.sleep(COALESCE_SECONDS)
            except TimeoutError:
                pass
        self.wake.clear()
        return woken

    async def _sync_round(self) -> None:
        client = self.fleet.manager.client(self.bot)
        # A trade someone is waiting to see goes before the periodic rounds queued for a slot.
        slots = self.fleet.urgent_slots if self.urgent else self.fleet.slots
        try:
            async with slots:
                await asyncio.wait_for(self._sync(client), self.fleet.sync_timeout)
        except (BotApiError, TimeoutError, ValueError) as exc:
            self.failures += 1
            message = exc.message if isinstance(exc, BotApiError) else f"{type(exc).__name__}"
            await self._mark_unhealthy(message)
            return
        except Exception as exc:  # our side failed (the database): back off, keep collecting
            logger.exception("collecting bot %s failed", self.bot_id)
            self.failures += 1
            await self._mark_unhealthy(f"the server could not store it: {type(exc).__name__}")
            return
        self.failures = 0

    async def _mark_unhealthy(self, message: str) -> None:
        bot = self.bot
        previous = self.state
        state = (
            previous.model_copy()
            if previous is not None
            else BotLiveState(bot_id=bot.id, owner_id=bot.owner_id, healthy=False)
        )
        state.healthy = self.failures < UNHEALTHY_AFTER_FAILURES and state.healthy
        state.last_error = message
        state.consecutive_failures = self.failures
        self.state = state
        await self.fleet.cache.put(state)

    async def _sync(self, client: FreqtradeClient) -> None:
        bot = self.bot
        self.rounds += 1
        urgent, self.urgent = self.urgent, False
        history_due, self.history_due = self.history_due, False
        open_trades = await client.status()
        collected_at = utcnow()  # when the bot answered, not when we finished writing
        if self._open_ids is None:
            await self._load_held()
        held_open = self._open_ids or set()
        open_ids = {t.trade_id for t in open_trades}
        trades_moved = open_ids != held_open
        if (
            self._wallet is None
            or urgent
            or trades_moved
            or self.rounds - self._wallet_round >= WALLET_EVERY_ROUNDS
        ):
            self._wallet = await self._read_wallet(client, open_trades)
            self._wallet_round = self.rounds
        history: list[Trade] = []
        if (
            self.rounds == 1
            or history_due
            or held_open - open_ids  # a trade we hold as open has closed
            or self.rounds % HISTORY_EVERY_ROUNDS == 0
        ):
            history = await self._history(client)
        now = time.monotonic()
        snapshot_due = self.last_snapshot is None or now - self.last_snapshot >= SNAPSHOT_SECONDS
        changed: dict[int, Trade] = {}
        for trade in open_trades:  # their rows' profit is refreshed with each snapshot
            if snapshot_due or self._written.get(trade.trade_id) != _fingerprint(trade):
                changed[trade.trade_id] = trade
        for trade in history:
            # A close the history saw wins over an open /status read a moment before it.
            if trade.trade_id in changed or self._written.get(trade.trade_id) != _fingerprint(
                trade
            ):
                changed[trade.trade_id] = trade
        if changed:
            async with self.fleet.db_slots, self.fleet.database.transaction() as session:
                self._closed_held += await self.fleet.mirror(session, bot, list(changed.values()))
            for trade_id, trade in changed.items():
                self._written[trade_id] = _fingerprint(trade)
            self._forget_old_fingerprints(open_ids)
        self._open_ids = open_ids
        wallet = self._wallet
        drift = _open_profit(open_trades) - wallet.open_profit_from_status
        since = self._websocket_since
        if since is not None and time.monotonic() - since >= WEBSOCKET_STABLE_SECONDS:
            self.websocket_failures = 0
        flapping = self.websocket_failures >= UNHEALTHY_AFTER_FAILURES
        state = BotLiveState(
            bot_id=bot.id,
            owner_id=bot.owner_id,
            healthy=not flapping,
            last_error=(
                f"its message websocket failed {self.websocket_failures} times in a row; "
                "trades are seen by polling only"
                if flapping
                else None
            ),
            collected_at=collected_at,
            stake_currency=bot.stake_currency,
            equity=wallet.equity + drift,
            free=wallet.free,
            starting_capital=wallet.starting_capital,
            profit_closed=wallet.profit_closed,
            profit_open=wallet.profit_open + drift,
            trade_count=wallet.trade_count,
            closed_trade_count=wallet.closed_trade_count,
            winning_trades=wallet.winning_trades,
            losing_trades=wallet.losing_trades,
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
        if snapshot_due:
            self.fleet.add_snapshot(
                EquitySnapshot(
                    bot_id=bot.id,
                    owner_id=bot.owner_id,
                    taken_at=collected_at,
                    stake_currency=bot.stake_currency,
                    equity=state.equity,
                    free=state.free,
                    profit_closed=state.profit_closed,
                    profit_open=state.profit_open,
                    open_trades=len(open_trades),
                )
            )
            self.last_snapshot = now
        self.state = state
        await self.fleet.cache.put(state)
        await self.fleet.after_sync(bot)

    async def _read_wallet(self, client: FreqtradeClient, open_trades: list[Trade]) -> _Wallet:
        profit = await client.profit()
        balance = await client.balance()
        stake = self.bot.stake_currency
        return _Wallet(
            equity=_decimal(balance.total),
            free=_decimal(_stake_free(balance.model_dump(), stake)),
            starting_capital=_decimal(balance.starting_capital),
            profit_closed=_decimal(profit.profit_closed_coin),
            profit_open=_decimal(profit.profit_all_coin) - _decimal(profit.profit_closed_coin),
            open_profit_from_status=_open_profit(open_trades),
            trade_count=profit.trade_count,
            closed_trade_count=profit.closed_trade_count,
            winning_trades=profit.winning_trades,
            losing_trades=profit.losing_trades,
        )

    async def _load_held(self) -> None:
        """What the mirror holds for this bot: its open trade ids and how many closed ones."""
        async with self.fleet.db_slots, self.fleet.database.transaction() as session:
            rows = await session.execute(
                select(MirroredTrade.ft_trade_id, MirroredTrade.is_open).where(
                    MirroredTrade.bot_id == self.bot.id
                )
            )
            held = rows.all()
        self._open_ids = {int(trade_id) for trade_id, is_open in held if is_open}
        self._closed_held = sum(1 for _, is_open in held if not is_open)

    def _forget_old_fingerprints(self, open_ids: set[int]) -> None:
        """Keep the fingerprints history re-reads can meet again: open trades and the newest."""
        if len(self._written) <= KEEP_FINGERPRINTS:
            return
        newest = set(sorted(self._written)[-HISTORY_OVERLAP:])
        self._written = {k: v for k, v in self._written.items() if k in open_ids or k in newest}

    async def _history(self, client: FreqtradeClient) -> list[Trade]:
        """Closed trades from just before the newest ones we hold (all of them the first time):
        the gap a restart of ours, or of Redis, left is filled from the bot's own history.
        freqtrade's /trades lists closed trades only, oldest first."""
        offset = max(0, self._closed_held - HISTORY_OVERLAP)
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
            try:
                url = await self.fleet.websocket_url(self.bot)
                async with websockets.connect(
                    url, open_timeout=5, close_timeout=2, compression=None
                ) as ws:
                    await ws.send(json.dumps({"type": "subscribe", "data": TRADE_MESSAGES}))
                    self._websocket_since = time.monotonic()
                    async for raw in ws:
                        message = json.loads(raw)
                        kind = message.get("type") if isinstance(message, dict) else None
                        if kind in TRADE_MESSAGES:
                            self.history_due = self.history_due or kind in EXIT_MESSAGES
                            self.urgent = True
                            self.wake.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a websocket that fails only slows us to polling
                logger.debug("bot %s websocket: %s", self.bot_id, exc)
            since, self._websocket_since = self._websocket_since, None
            if since is not None and time.monotonic() - since >= WEBSOCKET_STABLE_SECONDS:
                self.websocket_failures, delay = 0, 1.0
            else:
                self.websocket_failures += 1
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
        self.slots = asyncio.Semaphore(concurrency)
        self.urgent_slots = asyncio.Semaphore(max(1, concurrency // 5))
        # Database transactions at once: the pool's connections are shared with API requests.
        self.db_slots = asyncio.Semaphore(DB_SLOTS)
        self._bots: dict[int, tuple[BotCollector, asyncio.Task[None]]] = {}
        self._versions: dict[int, Any] = {}
        self._snapshots: list[EquitySnapshot] = []
        self._task: asyncio.Task[None] | None = None
        self._retention = SnapshotRetention(database)
        self.after_sync_hooks: list[Any] = []

    async def websocket_url(self, bot: Bot) -> str:
        base = self.manager.base_url(bot).replace("http://", "ws://").replace("https://", "wss://")
        token = self.manager.decrypt(bot, "ws_token")
        if token is None:  # an external bot: its access token works as a ws token too
            client = self.manager.client(bot)
            await client.show_config()
            token = client.access_token or ""
        return f"{base}/api/v1/message/ws?token={token}"

    async def mirror(self, session: AsyncSession, bot: Bot, trades: list[Trade]) -> int:
        """Upsert the bot's trades (one per id); record an event for each trade that opened or
        closed. Returns how many mirrored trades turned closed."""
        latest = {trade.trade_id: trade for trade in trades}
        if not latest:
            return 0
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
        closed = 0
        known_since = bot.created_at - CLOCK_SKEW
        for trade_id, trade in latest.items():
            row = existing.get(trade_id)
            was_open = row.is_open if row is not None else None
            if row is None:
                row = MirroredTrade(bot_id=bot.id, owner_id=bot.owner_id, ft_trade_id=trade_id)
                session.add(row)
            _apply(row, trade, bot)
            # The feed tells what happened since we knew the bot: a trade from before that is
            # history, not news. A trade that opened and closed while we were not looking (a
            # restart of ours) gets both its events, late, rather than none.
            if was_open is None and row.open_date >= known_since:
                await self._trade_event(session, bot, row, "trade.entry")
            if (was_open is None or was_open) and not row.is_open:
                closed += 1
                if row.close_date is None or row.close_date >= known_since:
                    await self._trade_event(session, bot, row, "trade.exit")
        return closed

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

    def add_snapshot(self, snapshot: EquitySnapshot) -> None:
        """Queue an equity snapshot; the fleet's are written together, once a second."""
        self._snapshots.append(snapshot)

    async def flush_snapshots(self) -> None:
        pending, self._snapshots = self._snapshots, []
        if not pending:
            return
        try:
            async with self.database.transaction() as session:
                session.add_all(pending)
        except Exception:
            logger.exception("%d equity snapshots could not be written", len(pending))

    async def _eligible(self) -> dict[int, Any]:
        """The bots to collect, each with its row's last change time."""
        async with self.database.transaction() as session:
            rows = await session.execute(
                select(Bot.id, Bot.updated_at).where(
                    ((Bot.kind == BotKind.managed) & (Bot.status == BotStatus.running))
                    | ((Bot.kind == BotKind.external) & Bot.is_active)
                )
            )
            return {int(row[0]): row[1] for row in rows.all()}

    async def reconcile(self) -> None:
        """Collect exactly the bots that run: start tasks for new ones, end the others', and
        restart the collection of a bot whose row changed (its address, keys or stake) or whose
        task ended by accident."""
        eligible = await self._eligible()
        for bot_id in set(self._bots) - set(eligible):
            self._drop(bot_id)
        changed = [
            i
            for i in eligible
            if i in self._bots and (self._versions[i] != eligible[i] or self._bots[i][1].done())
        ]
        for bot_id in changed:
            self._drop(bot_id)
        new = [bot_id for bot_id in eligible if bot_id not in self._bots]
        if not new:
            return
        async with self.database.transaction() as session:
            bots = (await session.execute(select(Bot).where(Bot.id.in_(new)))).scalars().all()
        loop = asyncio.get_running_loop()
        for bot in bots:
            collector = BotCollector(self, bot)
            self._bots[bot.id] = (collector, loop.create_task(collector.run()))
            self._versions[bot.id] = bot.updated_at

    def _drop(self, bot_id: int) -> None:
        _, task = self._bots.pop(bot_id)
        self._versions.pop(bot_id, None)
        task.cancel()
        self.cache.release(bot_id)

    def poke(self, bot_id: int) -> None:
        """Sync this bot now (a trade was just forced through our API)."""
        entry = self._bots.get(bot_id)
        if entry is not None:
            entry[0].urgent = entry[0].history_due = True
            entry[0].wake.set()

    async def _run(self) -> None:
        while True:
            try:
                # One collector per install: the process that supervises the bots.
                if self.manager.is_supervisor:
                    await self.reconcile()
                    await self.flush_snapshots()
                    await self._retention.maybe_thin()
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
        await self.cache.close()
        for bot_id in list(self._bots):
            self.cache.release(bot_id)
        self._bots.clear()
        await self.flush_snapshots()


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

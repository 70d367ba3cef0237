"""The risk engine: after every successful sync of a bot, the owner's risk rules are measured,
and a rule whose limit is crossed fires once: it acts on the bots, records an alert, an `alert`
event in the activity feed and an audit row (actor: system).

What each rule measures
-----------------------
fleet_max_drawdown
    Fleet equity is the sum of the equity (freqtrade's balance total: free stake plus open
    positions, in the stake currency) of all the owner's bots, running or not: a bot the
    collector no longer syncs counts with its last known equity (from the live cache, else its
    newest equity snapshot), so stopping a bot is not a loss. The drawdown is
    (peak - equity) / peak, where the peak is the highest fleet equity since the rule was
    created or last changed, kept in `risk_rules.peak_equity`. A bot that joins the fleet (its
    first equity) raises the peak by its equity and a deleted bot lowers it by its last equity:
    capital moving in or out is neither a gain nor a loss. Bots of different stake currencies
    are added without conversion: give a fleet one stake currency. Fires when the drawdown
    reaches the threshold (a ratio in (0, 1]).
bot_daily_loss
    Today's result of one bot: the profit of its trades closed since 00:00 UTC (from the trade
    mirror) plus the unrealised loss of its open trades (from the live cache; an open trade's
    gain does not offset a realised loss, as it can still turn). Fires when the loss reaches
    the threshold (in the bot's stake currency). A rule without a bot applies to each of the
    owner's bots separately and fires once per bot.
asset_max_exposure
    The open stake in trades whose base asset is the rule's asset, over all the owner's bots
    (from the trade mirror, which the collector refreshes every sync), per stake currency.
    Fires when it exceeds the threshold.

Firing and re-arming
--------------------
A rule fires once per crossing: `triggered_at` (and, for daily-loss rules, the bot in
`triggered_bot_ids`) is set, and it fires again only after it re-armed, which happens by itself
when the measure is back under 90 % of the threshold (so a measure hovering at the limit does
not raise an alert every few seconds), or when the rule is changed through the API.

Actions
-------
alert: only the alert. stop_entries: freqtrade's stopentry on the affected bots (fleet rules:
all the owner's running bots; daily loss: that bot; exposure: the running bots that trade the
asset or hold it); open trades are still managed. stop_bots (fleet rules only): managed bots are
stopped the way a user's stop does (claim, then the manager ends the process); external bots get
freqtrade's stop. An action that fails (a bot unreachable) is recorded in the alert's details;
nothing here ever raises into the collector. freqtrade forgets a stopentry when its process
restarts, so a bot that turns running while a stop-entries rule covering it is still triggered
is paused again (`bot_running`, called by the bot manager).

Cost
----
after_sync runs for every bot every few seconds. Owners without enabled rules are skipped after a
set lookup (one query for all owners every RULES_TTL_SECONDS). An owner's rules and bot ids are
cached for the same time, and dropped at once when the API changes a rule in this process.
Per-bot rules read one cache key, and the mirror only when the bot closed a trade (or a minute
passed, or the day turned). Fleet-wide rules are measured at most every FLEET_EVERY_SECONDS per
owner, with one cache read for all the owner's bots and at most one query. Actions and records run
in background tasks, so a slow bot never holds up the collector.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from datetime import time as clock
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core_server.activity import service as activity
from core_server.audit import service as audit
from core_server.bots.manager import BotManager
from core_server.bots.models import Bot, BotKind
from core_server.collector.cache import LiveStateCache
from core_server.collector.schemas import BotLiveState
from core_server.core.database import Database, after_commit, utcnow
from core_server.freqtrade.client import BotApiError
from core_server.realtime.bus import EventBus
from core_server.risk.models import Alert, RiskRule, RuleAction, RuleKind
from core_server.risk.repository import FleetReadings, RiskRuleRepository

logger = logging.getLogger(__name__)

REARM_RATIO = Decimal("0.9")
RULES_TTL_SECONDS = 30.0
FLEET_EVERY_SECONDS = 3.0
REALISED_TTL_SECONDS = 60.0
ACTION_TIMEOUT_SECONDS = 10.0
ACTION_CONCURRENCY = 20
SYSTEM_ACTOR = "system"
FLEET_KINDS = frozenset({RuleKind.fleet_max_drawdown, RuleKind.asset_max_exposure})


@dataclass
class _Rule:
    """An enabled rule as the engine holds it between loads. Its trigger state and peak are
    the engine's own (the API only resets them, with a new version), so a reload at the same
    version keeps what is in memory, which may be ahead of what is stored."""

    id: int
    owner_id: int
    bot_id: int | None
    kind: RuleKind
    threshold: Decimal
    asset: str | None
    action: RuleAction
    version: int
    triggered: bool
    triggered_bots: set[int]
    peak: Decimal | None

    @classmethod
    def of(cls, row: RiskRule) -> _Rule:
        return cls(
            id=row.id,
            owner_id=row.owner_id,
            bot_id=row.bot_id,
            kind=RuleKind(row.kind),
            threshold=Decimal(row.threshold),
            asset=row.asset,
            action=RuleAction(row.action),
            version=row.version,
            triggered=row.triggered_at is not None,
            triggered_bots=set(row.triggered_bot_ids or []),
            peak=Decimal(row.peak_equity) if row.peak_equity is not None else None,
        )


@dataclass
class _Owner:
    rule_ids: list[int]
    bot_ids: set[int]
    loaded_at: float
    fleet_checked_at: float = -math.inf


@dataclass
class _Crossing:
    """One rule found over its limit: what to record and whom to act on."""

    rule: _Rule
    version: int
    bot_id: int | None  # the bot the alert is about (daily loss)
    measured: Decimal
    summary: str
    details: dict[str, Any]
    # Bots to act on: None for all the owner's running bots, else these ids plus, when
    # `asset` is set, the running bots whose pairs trade it.
    bot_ids: set[int] | None = None
    asset: str | None = None
    results: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Realised:
    day: date
    closed_trades: int
    read_at: float
    value: Decimal


def _amount(value: Decimal) -> str:
    return f"{value:.2f}"


def _limit(value: Decimal) -> str:
    return f"{value.normalize():f}"


def _error(exc: BaseException) -> str:
    if isinstance(exc, BotApiError):
        return exc.message
    if isinstance(exc, TimeoutError):
        return f"no answer within {ACTION_TIMEOUT_SECONDS:.0f} s"
    return f"{type(exc).__name__}: {exc}"


def _bots(count: int) -> str:
    return f"{count} bot" if count == 1 else f"{count} bots"


def _trades_asset(bot: Bot, asset: str) -> bool:
    return any(pair.split("/")[0].upper() == asset for pair in bot.pairs or [])


class RiskEngine:
    def __init__(
        self,
        database: Database,
        manager: BotManager,
        bus: EventBus,
        cache: LiveStateCache,
        *,
        fleet_every: float = FLEET_EVERY_SECONDS,
        rules_ttl: float = RULES_TTL_SECONDS,
    ) -> None:
        self.database = database
        self.manager = manager
        self.bus = bus
        self.cache = cache
        self.fleet_every = fleet_every
        self.rules_ttl = rules_ttl
        self._with_rules: set[int] = set()
        self._with_rules_at = -math.inf
        self._with_rules_lock = asyncio.Lock()
        self._owners: dict[int, _Owner] = {}
        self._rules: dict[int, _Rule] = {}
        self._owner_locks: dict[int, asyncio.Lock] = {}
        self._rule_locks: dict[int, asyncio.Lock] = {}
        # fleet rule id -> the bots (and their equity) its peak last accounted for
        self._members: dict[int, dict[int, Decimal]] = {}
        self._equity: dict[int, Decimal] = {}
        self._equity_looked_up: set[int] = set()
        self._realised: dict[int, _Realised] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._action_slots = asyncio.Semaphore(ACTION_CONCURRENCY)

    # --- the rule cache --------------------------------------------------------------------------

    def invalidate(self, owner_id: int) -> None:
        """An owner's rules changed: read them again at that owner's next sync."""
        self._owners.pop(owner_id, None)
        self._with_rules_at = -math.inf

    async def _has_rules(self, owner_id: int) -> bool:
        if time.monotonic() - self._with_rules_at >= self.rules_ttl:
            async with self._with_rules_lock:
                if time.monotonic() - self._with_rules_at >= self.rules_ttl:
                    async with self.database.transaction() as session:
                        owners = await RiskRuleRepository(session).owners_with_rules()
                    self._with_rules = owners
                    self._with_rules_at = time.monotonic()
                    for gone in set(self._owners) - owners:
                        self._forget_owner(gone)
        return owner_id in self._with_rules

    def _forget_owner(self, owner_id: int) -> None:
        owner = self._owners.pop(owner_id, None)
        for rule_id in owner.rule_ids if owner else []:
            self._rules.pop(rule_id, None)
            self._members.pop(rule_id, None)

    async def _owner(self, owner_id: int, bot_id: int) -> _Owner:
        owner = self._owners.get(owner_id)
        if (
            owner is not None
            and time.monotonic() - owner.loaded_at < self.rules_ttl
            and bot_id in owner.bot_ids
        ):
            return owner
        async with self.database.transaction() as session:
            rows = await RiskRuleRepository(session).enabled_for_owner(owner_id)
            bot_ids = await FleetReadings(session).bot_ids(owner_id)
        kept = set()
        for row in rows:
            held = self._rules.get(row.id)
            fresh = _Rule.of(row)
            if held is not None and held.version == row.version:
                fresh.triggered, fresh.triggered_bots, fresh.peak = (
                    held.triggered,
                    held.triggered_bots,
                    held.peak,
                )
            else:
                self._members.pop(row.id, None)
            self._rules[row.id] = fresh
            kept.add(row.id)
        for rule_id in (set(owner.rule_ids) if owner else set()) - kept:
            self._rules.pop(rule_id, None)
            self._members.pop(rule_id, None)
        loaded = _Owner(
            rule_ids=[row.id for row in rows],
            bot_ids=bot_ids,
            loaded_at=time.monotonic(),
            fleet_checked_at=owner.fleet_checked_at if owner else -math.inf,
        )
        self._owners[owner_id] = loaded
        return loaded

    # --- evaluation ------------------------------------------------------------------------------

    async def after_sync(self, bot: Bot) -> None:
        """Called by the collector after every successful sync of `bot`: measure the owner's
        rules that this sync may have changed. Never raises."""
        try:
            if not await self._has_rules(bot.owner_id):
                return
            lock = self._owner_locks.setdefault(bot.owner_id, asyncio.Lock())
            async with lock:
                owner = await self._owner(bot.owner_id, bot.id)
                rules = [self._rules[i] for i in owner.rule_ids if i in self._rules]
                daily = [
                    r
                    for r in rules
                    if r.kind == RuleKind.bot_daily_loss and r.bot_id in (None, bot.id)
                ]
                if daily:
                    await self._check_daily_loss(bot, daily)
                fleet = [r for r in rules if r.kind in FLEET_KINDS]
                now = time.monotonic()
                if fleet and now - owner.fleet_checked_at >= self.fleet_every:
                    owner.fleet_checked_at = now
                    await self._check_fleet(bot.owner_id, owner, fleet)
        except Exception:
            logger.exception("risk rules of owner %s could not be evaluated", bot.owner_id)

    async def _check_daily_loss(self, bot: Bot, rules: list[_Rule]) -> None:
        state = (await self.cache.get_many([bot.id])).get(bot.id)
        if state is None or state.collected_at is None:
            return
        self._note_equity(state)
        realised = await self._realised_today(bot.id, state)
        unrealised = sum(
            (min(Decimal(0), Decimal(str(t.profit_abs))) for t in state.open_trades), Decimal(0)
        )
        loss = -(realised + unrealised)
        currency = bot.stake_currency
        for rule in rules:
            armed = bot.id not in rule.triggered_bots
            if armed and loss >= rule.threshold:
                self._fire(
                    _Crossing(
                        rule=rule,
                        version=rule.version,
                        bot_id=bot.id,
                        measured=loss,
                        summary=(
                            f"{bot.name}: today's loss {_amount(loss)} {currency} reached the "
                            f"{_limit(rule.threshold)} {currency} limit"
                        ),
                        details={
                            "bot_name": bot.name,
                            "day": utcnow().date().isoformat(),
                            "realised_today": float(realised),
                            "unrealised_loss": float(unrealised),
                            "loss": float(loss),
                            "stake_currency": currency,
                        },
                        bot_ids={bot.id},
                    )
                )
            elif not armed and loss < rule.threshold * REARM_RATIO:
                self._rearm(rule, bot.id)

    async def _realised_today(self, bot_id: int, state: BotLiveState) -> Decimal:
        """Closed-today profit from the mirror, read again only when the bot closed a trade,
        the day turned, or it is a minute old."""
        today = utcnow().date()
        held = self._realised.get(bot_id)
        now = time.monotonic()
        if (
            held is not None
            and held.day == today
            and held.closed_trades == state.closed_trade_count
            and now - held.read_at < REALISED_TTL_SECONDS
        ):
            return held.value
        since = datetime.combine(today, clock.min, tzinfo=UTC)
        async with self.database.transaction() as session:
            value = await FleetReadings(session).realised_since(bot_id, since)
        self._realised[bot_id] = _Realised(today, state.closed_trade_count, now, value)
        return value

    def _note_equity(self, state: BotLiveState) -> None:
        if state.equity is not None and state.collected_at is not None:
            self._equity[state.bot_id] = Decimal(state.equity)

    async def _check_fleet(self, owner_id: int, owner: _Owner, rules: list[_Rule]) -> None:
        drawdown = [r for r in rules if r.kind == RuleKind.fleet_max_drawdown]
        exposure = [r for r in rules if r.kind == RuleKind.asset_max_exposure]
        if drawdown:
            equity = await self._fleet_equity(owner)
            for rule in drawdown:
                self._check_drawdown(rule, equity)
        if exposure:
            async with self.database.transaction() as session:
                rows = await FleetReadings(session).open_stake(
                    owner_id, {r.asset for r in exposure if r.asset}
                )
            for rule in exposure:
                self._check_exposure(rule, rows)

    async def _fleet_equity(self, owner: _Owner) -> dict[int, Decimal]:
        """The last known equity of each of the owner's bots that has one."""
        states = await self.cache.get_many(owner.bot_ids)
        for state in states.values():
            self._note_equity(state)
        unknown = [
            b for b in owner.bot_ids if b not in self._equity and b not in self._equity_looked_up
        ]
        if unknown:
            async with self.database.transaction() as session:
                found = await FleetReadings(session).last_equity(unknown)
            self._equity.update(found)
            self._equity_looked_up.update(unknown)
        return {b: self._equity[b] for b in owner.bot_ids if b in self._equity}

    def _check_drawdown(self, rule: _Rule, equity: dict[int, Decimal]) -> None:
        members = self._members.get(rule.id)
        peak = rule.peak
        if members is not None and peak is not None:
            joined = sum((equity[b] for b in equity.keys() - members.keys()), Decimal(0))
            left = sum((members[b] for b in members.keys() - equity.keys()), Decimal(0))
            peak = peak + joined - left
        self._members[rule.id] = dict(equity)
        current = sum(equity.values(), Decimal(0))
        peak = current if peak is None else max(peak, current)
        if peak != rule.peak:
            rule.peak = peak
            self._spawn(self._save_peak(rule.id, rule.version, peak))
        if peak <= 0:
            return
        ratio = (peak - current) / peak
        if not rule.triggered and ratio >= rule.threshold:
            self._fire(
                _Crossing(
                    rule=rule,
                    version=rule.version,
                    bot_id=None,
                    measured=ratio,
                    summary=(
                        f"Fleet drawdown {ratio:.1%} reached the {rule.threshold:.1%} limit "
                        f"(equity {_amount(current)}, peak {_amount(peak)})"
                    ),
                    details={
                        "drawdown": float(ratio),
                        "equity": float(current),
                        "peak_equity": float(peak),
                        "bots": len(equity),
                    },
                )
            )
        elif rule.triggered and ratio < rule.threshold * REARM_RATIO:
            self._rearm(rule, None)

    def _check_exposure(self, rule: _Rule, rows: list[tuple[str, str, int, Decimal]]) -> None:
        totals: dict[str, Decimal] = {}
        holders: dict[str, dict[int, Decimal]] = {}
        for asset, currency, bot_id, stake in rows:
            if asset != rule.asset:
                continue
            totals[currency] = totals.get(currency, Decimal(0)) + stake
            holders.setdefault(currency, {})[bot_id] = stake
        currency, total = max(totals.items(), key=lambda kv: kv[1], default=("", Decimal(0)))
        if not rule.triggered and total > rule.threshold:
            by_bot = holders[currency]
            self._fire(
                _Crossing(
                    rule=rule,
                    version=rule.version,
                    bot_id=None,
                    measured=total,
                    summary=(
                        f"Open stake in {rule.asset} is {_amount(total)} {currency}, over the "
                        f"{_limit(rule.threshold)} {currency} limit"
                    ),
                    details={
                        "asset": rule.asset,
                        "stake_currency": currency,
                        "exposure": float(total),
                        "by_bot": {str(b): float(s) for b, s in sorted(by_bot.items())},
                    },
                    bot_ids=set(by_bot),
                    asset=rule.asset,
                )
            )
        elif rule.triggered and total < rule.threshold * REARM_RATIO:
            self._rearm(rule, None)

    # --- firing, re-arming -----------------------------------------------------------------------

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _rule_lock(self, rule_id: int) -> asyncio.Lock:
        return self._rule_locks.setdefault(rule_id, asyncio.Lock())

    def _mark(self, rule: _Rule, bot_id: int | None, triggered: bool) -> None:
        if rule.kind == RuleKind.bot_daily_loss and bot_id is not None:
            if triggered:
                rule.triggered_bots.add(bot_id)
            else:
                rule.triggered_bots.discard(bot_id)
            rule.triggered = bool(rule.triggered_bots)
        else:
            rule.triggered = triggered

    def _fire(self, crossing: _Crossing) -> None:
        # Marked at once, so the syncs that follow do not fire it again while it acts.
        self._mark(crossing.rule, crossing.bot_id, True)
        self._spawn(self._record_firing(crossing))

    def _rearm(self, rule: _Rule, bot_id: int | None) -> None:
        self._mark(rule, bot_id, False)
        self._spawn(self._store_rearm(rule.owner_id, rule.id, rule.version, bot_id))

    async def _record_firing(self, crossing: _Crossing) -> None:
        rule = crossing.rule
        async with self._rule_lock(rule.id):
            try:
                await self._act_and_record(crossing)
            except Exception:
                logger.exception("risk rule %s fired but could not be recorded", rule.id)
                # Try again at the next evaluation rather than stay silently triggered.
                held = self._rules.get(rule.id)
                if held is not None and held.version == crossing.version:
                    self._mark(held, crossing.bot_id, False)

    async def _act_and_record(self, crossing: _Crossing) -> None:
        rule = crossing.rule
        async with self.database.transaction() as session:
            readings = FleetReadings(session)
            if rule.action == RuleAction.stop_bots:
                targets = await readings.stoppable_bots(rule.owner_id)
            else:
                targets = await readings.running_bots(rule.owner_id)
        if crossing.bot_ids is not None:
            wanted = crossing.bot_ids
            asset = crossing.asset
            targets = [b for b in targets if b.id in wanted or (asset and _trades_asset(b, asset))]
        # Bots are reached before anything is stored: a crash in between fires the rule
        # again (stopentry twice is harmless), never leaves it triggered without its alert.
        if rule.action == RuleAction.stop_entries:
            await asyncio.gather(*(self._stop_entries(crossing, b) for b in targets))
        elif rule.action == RuleAction.stop_bots:
            external = [b for b in targets if b.kind == BotKind.external]
            await asyncio.gather(*(self._stop_trader(crossing, b) for b in external))
        async with self.database.transaction() as session:
            stored = await RiskRuleRepository(session).locked(rule.id)
            current = stored is not None and stored.version == crossing.version
            if stored is not None and current:
                stored.triggered_at = utcnow()
                if rule.kind == RuleKind.bot_daily_loss and crossing.bot_id is not None:
                    stored.triggered_bot_ids = sorted(
                        {*(stored.triggered_bot_ids or []), crossing.bot_id}
                    )
            if rule.action == RuleAction.stop_bots:
                for bot in targets:
                    if bot.kind == BotKind.managed:
                        await self._stop_bot(session, crossing, bot)
            await self._record(session, crossing, stored is not None)
        if not current:
            self.invalidate(rule.owner_id)

    async def _stop_entries(self, crossing: _Crossing, bot: Bot) -> None:
        result: dict[str, Any] = {"bot_id": bot.id, "bot_name": bot.name, "action": "stop_entries"}
        try:
            async with self._action_slots:
                answer = await asyncio.wait_for(
                    self.manager.client(bot).stopentry(), ACTION_TIMEOUT_SECONDS
                )
            result.update(ok=True, status=answer.status)
        except Exception as exc:  # recorded in the alert: an action never breaks the engine
            result.update(ok=False, error=_error(exc))
        crossing.results.append(result)

    async def _stop_trader(self, crossing: _Crossing, bot: Bot) -> None:
        """An external bot's process is not ours to end: its trader is stopped instead."""
        result: dict[str, Any] = {"bot_id": bot.id, "bot_name": bot.name, "action": "stop"}
        try:
            async with self._action_slots:
                answer = await asyncio.wait_for(
                    self.manager.client(bot).stop(), ACTION_TIMEOUT_SECONDS
                )
            result.update(ok=True, status=answer.status)
        except Exception as exc:
            result.update(ok=False, error=_error(exc))
        crossing.results.append(result)

    async def _stop_bot(self, session: AsyncSession, crossing: _Crossing, bot: Bot) -> None:
        """The stop a user's request does: claim it, end the process once this commits."""
        claimed = await self.manager.claim_stop(session, bot)
        crossing.results.append(
            {
                "bot_id": bot.id,
                "bot_name": bot.name,
                "action": "stop_bot",
                "ok": claimed,
                **({"status": "stopping"} if claimed else {"error": "bot is changing state"}),
            }
        )
        if not claimed:
            return
        audit.record(
            session,
            "bot.stop",
            actor_name=SYSTEM_ACTOR,
            resource_type="bot",
            resource_id=bot.id,
            details={"risk_rule_id": crossing.rule.id},
        )
        bot_id = bot.id
        after_commit(session, lambda: self.manager.spawn_task(self.manager.halt(bot_id)))

    async def _record(self, session: AsyncSession, crossing: _Crossing, rule_exists: bool) -> None:
        rule = crossing.rule
        results = sorted(crossing.results, key=lambda r: r["bot_id"])
        done = [r for r in results if r["ok"]]
        failed = [r for r in results if not r["ok"]]
        outcome = {
            RuleAction.alert: "",
            RuleAction.stop_entries: f"entries stopped on {_bots(len(done))}",
            RuleAction.stop_bots: f"stopping {_bots(len(done))}",
        }[rule.action]
        if failed:
            names = ", ".join(r["bot_name"] for r in failed[:5])
            more = f" and {len(failed) - 5} more" if len(failed) > 5 else ""
            outcome += f", failed on {len(failed)} ({names}{more})"
        if rule.action != RuleAction.alert and not results:
            outcome = "no running bot to act on"
        message = f"{crossing.summary}: {outcome}." if outcome else f"{crossing.summary}."
        severity = "warning" if rule.action == RuleAction.alert else "critical"
        details = {
            **crossing.details,
            "measured": float(crossing.measured),
            "threshold": float(rule.threshold),
            "rule": {
                "kind": rule.kind.value,
                "action": rule.action.value,
                "threshold": str(rule.threshold),
                "bot_id": rule.bot_id,
                "asset": rule.asset,
            },
            "actions": results,
        }
        alert = Alert(
            owner_id=rule.owner_id,
            bot_id=crossing.bot_id,
            rule_id=rule.id if rule_exists else None,
            severity=severity,
            kind=rule.kind.value,
            message=message,
            details=details,
        )
        session.add(alert)
        await session.flush()
        await activity.record(
            session,
            self.bus,
            type="alert",
            summary=message,
            owner_id=rule.owner_id,
            bot_id=crossing.bot_id,
            payload={
                "alert_id": alert.id,
                "rule_id": rule.id,
                "kind": rule.kind.value,
                "severity": severity,
                "action": rule.action.value,
                "measured": float(crossing.measured),
                "threshold": float(rule.threshold),
                "acted_on": [r["bot_id"] for r in done],
                "failed": [r["bot_id"] for r in failed],
            },
        )
        audit.record(
            session,
            "risk.trigger",
            actor_name=SYSTEM_ACTOR,
            resource_type="risk_rule",
            resource_id=rule.id,
            details={"alert_id": alert.id, "owner_id": rule.owner_id, **details},
        )
        logger.warning("risk rule %s fired: %s", rule.id, message)

    async def _store_rearm(
        self, owner_id: int, rule_id: int, version: int, bot_id: int | None
    ) -> None:
        async with self._rule_lock(rule_id):
            try:
                async with self.database.transaction() as session:
                    stored = await RiskRuleRepository(session).locked(rule_id)
                    if stored is None or stored.version != version:
                        self.invalidate(owner_id)
                        return
                    if stored.kind == RuleKind.bot_daily_loss and bot_id is not None:
                        left = set(stored.triggered_bot_ids or []) - {bot_id}
                        stored.triggered_bot_ids = sorted(left)
                        if not left:
                            stored.triggered_at = None
                    else:
                        stored.triggered_at = None
            except Exception:
                logger.exception("risk rule %s could not be re-armed", rule_id)

    async def _save_peak(self, rule_id: int, version: int, peak: Decimal) -> None:
        async with self._rule_lock(rule_id):
            try:
                async with self.database.transaction() as session:
                    await RiskRuleRepository(session).save_peak(rule_id, version, peak)
            except Exception:
                logger.exception("peak equity of risk rule %s could not be stored", rule_id)

    # --- lifecycle -------------------------------------------------------------------------------

    async def bot_running(self, bot_id: int) -> None:
        """A bot just turned running: if a stop-entries rule that covers it is still triggered,
        its entries stop again (freqtrade forgets a stopentry when its process restarts)."""
        async with self.database.transaction() as session:
            bot = await session.get(Bot, bot_id)
            if bot is None:
                return
            rules = (
                (
                    await session.execute(
                        select(RiskRule).where(
                            RiskRule.owner_id == bot.owner_id,
                            RiskRule.enabled,
                            RiskRule.action == RuleAction.stop_entries,
                        )
                    )
                )
                .scalars()
                .all()
            )
        covering = [rule for rule in rules if _still_pauses(rule, bot)]
        if not covering:
            return
        try:
            await asyncio.wait_for(self.manager.client(bot).stopentry(), ACTION_TIMEOUT_SECONDS)
            logger.info("bot %s paused again by risk rule(s) %s", bot.id, [r.id for r in covering])
        except Exception:
            logger.warning("could not pause bot %s again for its triggered rules", bot.id)

    async def settle(self) -> None:
        """Wait until every action and record under way has finished."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _still_pauses(rule: RiskRule, bot: Bot) -> bool:
    """Whether a triggered stop-entries rule keeps this bot from entering."""
    if rule.kind == RuleKind.bot_daily_loss:
        return bot.id in (rule.triggered_bot_ids or []) or (
            rule.bot_id == bot.id and rule.triggered_at is not None
        )
    if rule.triggered_at is None:
        return False
    if rule.kind == RuleKind.asset_max_exposure:
        return _trades_asset(bot, rule.asset or "")
    return True

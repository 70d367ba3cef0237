"""Analytics over the mirrored trades and equity snapshots, per bot, per strategy or for the
caller's whole fleet. Every face (REST now, MCP and chat later) calls these functions.

Definitions (money in the scope's stake currency, ratios as fractions):

- **Scope.** The caller's bots (an admin's: all), narrowed by `bot_id` (another tenant's bot is
  `BOT_NOT_FOUND`, as a missing one), `strategy` (trades made by it; capital of the bots that run
  it now) and `stake_currency`. Figures never add up different currencies: when the bots in scope
  use several, `stake_currency` is required (422 `STAKE_CURRENCY_REQUIRED`, listing them).
- **Starting capital** of a bot: what freqtrade's `/profit` divides by. For a managed dry-run bot
  that is `dry_run_wallet x tradable_balance_ratio` (0.99 unless its config overrides it, or its
  `available_capital`); for other bots the collector's live `starting_capital`, else its
  `dry_run_wallet`. The scope's capital is the sum over its bots.
- **Period.** `since`/`until` select closed trades by close date. The starting balance is the
  capital plus the profit closed before `since`. The period runs from `since` (else the first
  closed trade's open) to `until` (at most now; else the last close). Open trades are the
  positions open now, counted unless `until` is in the past.
- **profit_abs** the sum of closed profit; **profit_ratio** over the starting balance (as
  freqtrade's `profit_closed_ratio`). **wins** closed trades with profit ratio >= 0, **losses**
  < 0 (as freqtrade's `/profit`); **win_rate** wins / closed. **profit_factor** gross profit /
  gross loss (null without a loss). **expectancy** mean profit per closed trade.
- **Daily returns** one per calendar day of the period, the day's closed profit over the balance
  at the day's start. **Sharpe** mean / population std x sqrt(365); **Sortino** mean / downside
  deviation (target 0) x sqrt(365); **Calmar** mean x 365 / max drawdown ratio; **VaR 95 %**
  minus the 5th percentile of the daily returns; **CAGR** (final / start balance) ^ (365 / days)
  - 1 over the period (days at least 1).
- **Max drawdown** trade by trade on the closed-profit curve in close order, the high clamped at
  the start (freqtrade's `max_drawdown_abs`); its ratio is the drop over starting balance plus
  the high, at the deepest point (freqtrade's `max_drawdown_account`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Float, case, cast, func
from sqlalchemy.ext.asyncio import AsyncSession

from core_server.analytics import metrics
from core_server.analytics.cache import ResultCache
from core_server.analytics.errors import StakeCurrencyRequired
from core_server.analytics.repository import (
    AnalyticsRepository,
    BotRow,
    DailyRow,
    DrawdownRow,
    Expression,
    PositionRow,
    TradeScope,
)
from core_server.analytics.schemas import (
    MONEY_METRICS,
    BotExposure,
    Concentration,
    CustomQuery,
    CustomResult,
    CustomRow,
    ExposureItem,
    PerformanceRead,
    Period,
    PortfolioParams,
    PortfolioRead,
    ProfitPoint,
    ProfitSeries,
    RiskRead,
    ScopeParams,
    ScopeRead,
    ValuationSources,
)
from core_server.auth.principal import Principal
from core_server.bots.errors import BotNotFound
from core_server.bots.files import TRADABLE_BALANCE_RATIO
from core_server.bots.models import BotKind
from core_server.collector.cache import LiveStateCache
from core_server.collector.models import MirroredTrade as T
from core_server.collector.schemas import BotLiveState
from core_server.core.database import utcnow
from core_server.core.errors import InvalidInput

# What bots/files.py writes into every managed bot's config unless the user overrides it.
DEFAULT_TRADABLE_BALANCE_RATIO = TRADABLE_BALANCE_RATIO
CHANGE_WINDOW = timedelta(hours=24)
_EXCLUSIVE = timedelta(microseconds=1)


@dataclass(frozen=True)
class AnalyticsContext:
    """What the analytics read besides the database: the collector's live state of each bot and
    the cache of closed-trade aggregates."""

    live: LiveStateCache
    results: ResultCache


# --- scope ------------------------------------------------------------------------------------


def _utc(moment: datetime | None) -> datetime | None:
    """Timestamps without a zone are taken as UTC."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _check_window(since: datetime | None, until: datetime | None) -> None:
    if since is not None and until is not None and since >= until:
        raise InvalidInput.field("until", "until must be later than since.")


@dataclass(frozen=True)
class Scope:
    bot_id: int | None
    strategy: str | None
    stake_currency: str | None
    since: datetime | None
    until: datetime | None
    bots: list[BotRow]
    capital: float

    @property
    def trades(self) -> TradeScope:
        return TradeScope(
            bot_id=self.bot_id, strategy=self.strategy, stake_currency=self.stake_currency
        )

    def cache_key(self, principal: Principal) -> tuple[Any, ...]:
        return (
            principal.user_id,
            principal.is_admin,
            self.bot_id,
            self.strategy,
            self.stake_currency,
            self.since,
            self.until,
            tuple(bot.id for bot in self.bots),
        )

    def read(self) -> ScopeRead:
        return ScopeRead(
            bot_id=self.bot_id,
            strategy=self.strategy,
            stake_currency=self.stake_currency,
            since=self.since,
            until=self.until,
            bot_count=len(self.bots),
        )


def starting_capital(bot: BotRow, live: BotLiveState | None) -> float:
    """freqtrade's starting balance for the bot (see the module's definitions)."""
    if bot.kind == BotKind.managed and bot.dry_run:
        available = bot.config.get("available_capital")
        if isinstance(available, int | float):
            return float(available)
        tradable = bot.config.get("tradable_balance_ratio", DEFAULT_TRADABLE_BALANCE_RATIO)
        ratio = (
            float(tradable) if isinstance(tradable, int | float) else DEFAULT_TRADABLE_BALANCE_RATIO
        )
        return bot.dry_run_wallet * ratio
    if live is not None and live.starting_capital:
        return float(live.starting_capital)
    return bot.dry_run_wallet


async def _currencies(
    repo: AnalyticsRepository,
    principal: Principal,
    ctx: AnalyticsContext,
    bots: list[BotRow],
    bot_id: int | None,
    strategy: str | None,
) -> list[str]:
    found = {bot.stake_currency for bot in bots}
    if strategy is not None:
        # Trades of the strategy made by bots that have since switched to another one. The
        # scan is cached like the closed-trade aggregates: such trades are old and closed.
        async def compute() -> list[str]:
            scope = TradeScope(bot_id=bot_id, strategy=strategy)
            return await repo.trade_currencies(principal, scope)

        key = ("currencies", principal.user_id, principal.is_admin, bot_id, strategy)
        version = await repo.closed_version(principal)
        found.update(await ctx.results.get_or_compute(key, version, compute))
    return sorted(found)


async def resolve_scope(
    repo: AnalyticsRepository,
    principal: Principal,
    ctx: AnalyticsContext,
    *,
    bot_id: int | None,
    strategy: str | None,
    stake_currency: str | None,
    since: datetime | None,
    until: datetime | None,
    single_currency: bool = True,
) -> Scope:
    since, until = _utc(since), _utc(until)
    _check_window(since, until)
    if bot_id is not None and not await repo.bot_exists(principal, bot_id):
        raise BotNotFound()
    bots = await repo.scoped_bots(principal, bot_id, strategy)
    currency = stake_currency.upper() if stake_currency else None
    if currency is None:
        currencies = await _currencies(repo, principal, ctx, bots, bot_id, strategy)
        if len(currencies) > 1 and single_currency:
            raise StakeCurrencyRequired.among(currencies)
        currency = currencies[0] if len(currencies) == 1 else None
    if currency is not None:
        bots = [bot for bot in bots if bot.stake_currency == currency]
    needs_live = [bot.id for bot in bots if not (bot.kind == BotKind.managed and bot.dry_run)]
    live = await ctx.live.get_many(needs_live) if needs_live else {}
    capital = sum(starting_capital(bot, live.get(bot.id)) for bot in bots)
    return Scope(bot_id, strategy, currency, since, until, bots, capital)


async def _scope(
    repo: AnalyticsRepository, principal: Principal, ctx: AnalyticsContext, params: ScopeParams
) -> Scope:
    return await resolve_scope(
        repo,
        principal,
        ctx,
        bot_id=params.bot_id,
        strategy=params.strategy,
        stake_currency=params.stake_currency,
        since=params.since,
        until=params.until,
    )


# --- the closed-trade curve shared by performance and risk -------------------------------------


@dataclass(frozen=True)
class Curve:
    starting_balance: float
    days: list[DailyRow]
    period_start: datetime | None
    period_end: datetime | None
    returns: list[float]
    max_drawdown_abs: float | None
    max_drawdown_ratio: float | None
    current_drawdown_abs: float | None
    current_drawdown_ratio: float | None

    @property
    def profit(self) -> float:
        return sum(day.profit_abs for day in self.days)

    @property
    def period_days(self) -> float | None:
        if self.period_start is None or self.period_end is None:
            return None
        return max(1.0, (self.period_end - self.period_start).total_seconds() / 86400)


@dataclass(frozen=True)
class ClosedTrades:
    """The closed-trade aggregates of a scope, before anything that depends on its capital or
    on the clock: what the result cache holds."""

    profit_before: float  # closed before `since`
    days: list[DailyRow]


async def closed_trades(
    repo: AnalyticsRepository, principal: Principal, ctx: AnalyticsContext, scope: Scope
) -> ClosedTrades:
    async def compute() -> ClosedTrades:
        before = 0.0
        if scope.since is not None:
            before = await repo.closed_profit_before(principal, scope.trades, scope.since)
        days = await repo.daily_closed(principal, scope.trades, scope.since, scope.until)
        return ClosedTrades(before, days)

    version = await repo.closed_version(principal)
    key = ("closed", *scope.cache_key(principal))
    return await ctx.results.get_or_compute(key, version, compute)


async def _drawdown(
    repo: AnalyticsRepository, principal: Principal, ctx: AnalyticsContext, scope: Scope
) -> DrawdownRow | None:
    async def compute() -> DrawdownRow | None:
        return await repo.drawdown(principal, scope.trades, scope.since, scope.until)

    version = await repo.closed_version(principal)
    key = ("drawdown", *scope.cache_key(principal))
    return await ctx.results.get_or_compute(key, version, compute)


async def _curve(
    repo: AnalyticsRepository, principal: Principal, ctx: AnalyticsContext, scope: Scope
) -> Curve:
    closed = await closed_trades(repo, principal, ctx, scope)
    start = scope.capital + closed.profit_before
    days = closed.days
    first_open = min((d.first_open for d in days), default=None)
    last_close = max((d.last_close for d in days), default=None)
    period_start = scope.since or first_open
    period_end = min(scope.until, utcnow()) if scope.until is not None else last_close
    if period_start is None or period_end is None or period_end < period_start:
        period_end = None
    returns: list[float] = []
    if period_start is not None and period_end is not None:
        last_day = (period_end - _EXCLUSIVE).date() if scope.until else period_end.date()
        series = metrics.daily_returns(
            start,
            {d.day: d.profit_abs for d in days},
            period_start.date(),
            max(last_day, period_start.date()),
        )
        returns = series or []
    drawdown = await _drawdown(repo, principal, ctx, scope) if days else None
    max_abs = max_ratio = current_abs = current_ratio = None
    if drawdown is not None:
        total = sum(d.profit_abs for d in days)
        max_abs = drawdown.drawdown_abs
        max_ratio = metrics.ratio(drawdown.drawdown_abs, start + drawdown.peak)
        current_abs = max(drawdown.highest - total, 0.0)
        current_ratio = metrics.ratio(current_abs, start + drawdown.highest)
    return Curve(
        starting_balance=start,
        days=days,
        period_start=period_start,
        period_end=period_end,
        returns=returns,
        max_drawdown_abs=max_abs,
        max_drawdown_ratio=max_ratio,
        current_drawdown_abs=current_abs,
        current_drawdown_ratio=current_ratio,
    )


def _pct(ratio: float | None) -> float | None:
    return ratio * 100 if ratio is not None else None


def _open_now(scope: Scope) -> bool:
    return scope.until is None or scope.until > utcnow()


# --- performance ------------------------------------------------------------------------------


async def performance(
    session: AsyncSession, principal: Principal, ctx: AnalyticsContext, params: ScopeParams
) -> PerformanceRead:
    repo = AnalyticsRepository(session)
    scope = await _scope(repo, principal, ctx, params)
    curve = await _curve(repo, principal, ctx, scope)
    held = await repo.open_totals(principal, scope.trades) if _open_now(scope) else None

    closed = sum(d.trade_count for d in curve.days)
    wins = sum(d.wins for d in curve.days)
    profit = curve.profit
    gross_profit = sum(d.gross_profit for d in curve.days)
    gross_loss = sum(d.gross_loss for d in curve.days)
    duration = sum(d.duration_seconds for d in curve.days)
    open_count = held.trade_count if held else 0
    profit_ratio = metrics.ratio(profit, curve.starting_balance)
    days = curve.period_days
    return PerformanceRead(
        scope=scope.read(),
        period_start=curve.period_start,
        period_end=curve.period_end,
        days=days,
        starting_balance=curve.starting_balance,
        profit_abs=profit,
        profit_ratio=profit_ratio,
        profit_pct=_pct(profit_ratio),
        profit_open_abs=held.unrealised_abs if held else 0.0,
        trade_count=closed + open_count,
        closed_trade_count=closed,
        open_trade_count=open_count,
        wins=wins,
        losses=closed - wins,
        win_rate=metrics.ratio(wins, closed),
        avg_duration_seconds=metrics.ratio(duration, closed),
        profit_factor=metrics.ratio(gross_profit, -gross_loss),
        expectancy=metrics.ratio(profit, closed),
        sharpe=metrics.sharpe(curve.returns),
        sortino=metrics.sortino(curve.returns),
        calmar=metrics.calmar(curve.returns, curve.max_drawdown_ratio),
        max_drawdown_abs=curve.max_drawdown_abs,
        max_drawdown_ratio=curve.max_drawdown_ratio,
        max_drawdown_pct=_pct(curve.max_drawdown_ratio),
        cagr=(
            metrics.cagr(curve.starting_balance, curve.starting_balance + profit, days)
            if days is not None
            else None
        ),
        first_trade_at=min((d.first_open for d in curve.days), default=None),
        last_trade_at=max((d.last_close for d in curve.days), default=None),
    )


# --- profit series ----------------------------------------------------------------------------


def period_start(day: date, period: Period) -> date:
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    return day


def _step(start: date, period: Period, steps: int) -> date:
    """`steps` periods after (or, negative, before) the period starting on `start`."""
    if period == "day":
        return start + timedelta(days=steps)
    if period == "week":
        return start + timedelta(weeks=steps)
    months = start.year * 12 + start.month - 1 + steps
    return date(months // 12, months % 12 + 1, 1)


def _periods_between(first: date, last: date, period: Period) -> int:
    if period == "day":
        return (last - first).days
    if period == "week":
        return (last - first).days // 7
    return (last.year - first.year) * 12 + last.month - first.month


async def profit_series(
    session: AsyncSession,
    principal: Principal,
    ctx: AnalyticsContext,
    params: ScopeParams,
    period: Period,
    limit: int,
) -> ProfitSeries:
    """Closed profit per day, week (ISO, from Monday) or month (UTC), every step from `since`
    (else the first close) to `until` (else today), empty steps too; the latest `limit` steps."""
    repo = AnalyticsRepository(session)
    scope = await _scope(repo, principal, ctx, params)
    closed = await closed_trades(repo, principal, ctx, scope)
    start_balance = scope.capital + closed.profit_before
    days = closed.days
    buckets: dict[date, list[DailyRow]] = defaultdict(list)
    for day in days:
        buckets[period_start(day.day, period)].append(day)
    if scope.since is not None:
        first = period_start(scope.since.date(), period)
    elif days:
        first = period_start(days[0].day, period)
    else:
        return ProfitSeries(
            scope=scope.read(),
            period=period,
            starting_balance=start_balance,
            items=[],
            truncated=False,
        )
    end = min(scope.until, utcnow()) - _EXCLUSIVE if scope.until else utcnow()
    last = max(period_start(end.date(), period), first)
    count = _periods_between(first, last, period) + 1
    shown_first = _step(last, period, -(min(count, limit) - 1))
    cumulative = sum(d.profit_abs for d in days if d.day < shown_first)
    items: list[ProfitPoint] = []
    for index in range(min(count, limit)):
        bucket = _step(shown_first, period, index)
        rows = buckets.get(bucket, [])
        profit = sum(r.profit_abs for r in rows)
        balance_before = start_balance + cumulative
        cumulative += profit
        trades = sum(r.trade_count for r in rows)
        wins = sum(r.wins for r in rows)
        items.append(
            ProfitPoint(
                period_start=bucket,
                trade_count=trades,
                wins=wins,
                losses=trades - wins,
                profit_abs=profit,
                profit_ratio=metrics.ratio(profit, balance_before) if balance_before > 0 else None,
                cumulative_profit_abs=cumulative,
                balance=start_balance + cumulative,
            )
        )
    return ProfitSeries(
        scope=scope.read(),
        period=period,
        starting_balance=start_balance,
        items=items,
        truncated=count > limit,
    )


# --- risk -------------------------------------------------------------------------------------


def _exposures(positions: list[PositionRow], key: str) -> list[tuple[Any, float, float, int]]:
    """Open stake, unrealised profit and trade count per `key`, the largest stake first."""
    grouped: dict[Any, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    for p in positions:
        entry = grouped[getattr(p, key)]
        entry[0] += p.stake_abs
        entry[1] += p.unrealised_abs
        entry[2] += p.trade_count
    ranked = sorted(grouped.items(), key=lambda item: (-item[1][0], str(item[0])))
    return [(k, v[0], v[1], int(v[2])) for k, v in ranked]


async def risk(
    session: AsyncSession, principal: Principal, ctx: AnalyticsContext, params: ScopeParams
) -> RiskRead:
    """Exposure of the positions open now, and drawdown and VaR over the period."""
    repo = AnalyticsRepository(session)
    scope = await _scope(repo, principal, ctx, params)
    curve = await _curve(repo, principal, ctx, scope)
    positions = await repo.positions(principal, scope.trades)
    balance = curve.starting_balance + curve.profit
    exposure = sum(p.stake_abs for p in positions)
    unrealised = sum(p.unrealised_abs for p in positions)

    def share(stake: float) -> float | None:
        return metrics.ratio(stake, exposure)

    assets = _exposures(positions, "base_currency")
    pairs = _exposures(positions, "pair")
    bots = _exposures(positions, "bot_id")
    var = metrics.value_at_risk_95(curve.returns)
    return RiskRead(
        scope=scope.read(),
        balance=balance,
        open_trade_count=sum(p.trade_count for p in positions),
        exposure_abs=exposure,
        exposure_ratio=metrics.ratio(exposure, balance) if balance > 0 else None,
        unrealised_profit_abs=unrealised,
        open_risk_abs=exposure + unrealised,
        open_risk_ratio=metrics.ratio(exposure + unrealised, balance) if balance > 0 else None,
        by_asset=[
            ExposureItem(key=k, stake_abs=s, share=share(s), unrealised_profit_abs=u, trade_count=n)
            for k, s, u, n in assets
        ],
        by_pair=[
            ExposureItem(key=k, stake_abs=s, share=share(s), unrealised_profit_abs=u, trade_count=n)
            for k, s, u, n in pairs
        ],
        by_bot=[
            BotExposure(
                bot_id=k, stake_abs=s, share=share(s), unrealised_profit_abs=u, trade_count=n
            )
            for k, s, u, n in bots
        ],
        concentration=Concentration(
            largest_asset=assets[0][0] if assets else None,
            largest_asset_share=share(assets[0][1]) if assets else None,
            largest_pair_share=share(pairs[0][1]) if pairs else None,
            largest_bot_share=share(bots[0][1]) if bots else None,
            hhi_asset=(
                metrics.hhi([s / exposure for _, s, _, _ in assets]) if exposure > 0 else None
            ),
        ),
        current_drawdown_abs=curve.current_drawdown_abs,
        current_drawdown_ratio=curve.current_drawdown_ratio,
        max_drawdown_abs=curve.max_drawdown_abs,
        max_drawdown_ratio=curve.max_drawdown_ratio,
        var_95_ratio=var,
        var_95_abs=var * balance if var is not None else None,
        return_days=len(curve.returns),
    )


# --- portfolio --------------------------------------------------------------------------------


@dataclass
class _Valuation:
    value: float = 0.0
    free: float = 0.0
    live: int = 0
    snapshot: int = 0
    estimated: int = 0


async def _valuation(
    repo: AnalyticsRepository,
    principal: Principal,
    cache: LiveStateCache,
    scope: Scope,
    moment: datetime,
    live_now: bool,
    positions: list[PositionRow] | None,
) -> _Valuation:
    """The bots' wallets at `moment`: the collector's live state (now only), else the last
    equity snapshot at or before it, else the wallet plus the profit closed by then (plus the
    unrealised profit of the `positions` held then, as far as known). Without `positions` the
    free balance of estimated bots is left out."""
    result = _Valuation()
    ids = [bot.id for bot in scope.bots]
    live = await cache.get_many(ids) if live_now and ids else {}
    left = [bot for bot in scope.bots if not (bot.id in live and live[bot.id].equity is not None)]
    for bot in scope.bots:
        state = live.get(bot.id)
        if state is not None and state.equity is not None:
            result.value += float(state.equity)
            result.free += float(state.free or 0)
            result.live += 1
    if not left:
        return result
    snapshots = await repo.snapshots_at(
        principal, scope.bot_id, scope.strategy, scope.stake_currency, moment
    )
    estimated = [bot for bot in left if bot.id not in snapshots]
    for bot in left:
        if bot.id in snapshots:
            result.value += snapshots[bot.id].equity
            result.free += snapshots[bot.id].free
            result.snapshot += 1
    if not estimated:
        return result
    ids = [bot.id for bot in estimated]
    closed = await repo.closed_profit_by_bot(principal, scope.trades, ids, moment)
    stake: dict[int, float] = defaultdict(float)
    unrealised: dict[int, float] = defaultdict(float)
    for p in positions or []:
        stake[p.bot_id] += p.stake_abs
        unrealised[p.bot_id] += p.unrealised_abs
    for bot in estimated:
        wallet = bot.dry_run_wallet + closed.get(bot.id, 0.0)
        result.value += wallet + unrealised[bot.id]
        result.free += wallet - stake[bot.id]
        result.estimated += 1
    return result


async def portfolio(
    session: AsyncSession, principal: Principal, ctx: AnalyticsContext, params: PortfolioParams
) -> PortfolioRead:
    """The Portfolio Overview: total value, its change, open positions, free balance."""
    repo = AnalyticsRepository(session)
    now = utcnow()
    until = _utc(params.until)
    as_of = min(until, now) if until is not None else now
    since = _utc(params.since) or as_of - CHANGE_WINDOW
    if since >= as_of:
        raise InvalidInput.field("since", "since must be earlier than until (now when not given).")
    scope = await resolve_scope(
        repo,
        principal,
        ctx,
        bot_id=params.bot_id,
        strategy=params.strategy,
        stake_currency=params.stake_currency,
        since=None,
        until=None,
    )
    live_now = as_of >= now
    if not live_now:
        # Bots created after the moment asked about did not hold anything then.
        scope = Scope(
            scope.bot_id,
            scope.strategy,
            scope.stake_currency,
            None,
            None,
            [bot for bot in scope.bots if bot.created_at <= as_of],
            scope.capital,
        )
    positions = await repo.positions(principal, scope.trades, None if live_now else as_of)
    current = await _valuation(repo, principal, ctx.live, scope, as_of, live_now, positions)
    before = await _valuation(repo, principal, ctx.live, scope, since, False, None)
    echo = {"since": since if params.since else None, "until": as_of if params.until else None}
    return PortfolioRead(
        scope=scope.read().model_copy(update=echo),
        as_of=as_of,
        total_value=current.value,
        change_since=since,
        value_at_change_since=before.value,
        change_abs=current.value - before.value,
        change_ratio=metrics.ratio(current.value - before.value, before.value),
        active_positions=sum(p.trade_count for p in positions),
        available_balance=current.free,
        open_stake_abs=sum(p.stake_abs for p in positions),
        # The profit an open trade had at a past moment is not recorded.
        unrealised_profit_abs=sum(p.unrealised_abs for p in positions) if live_now else None,
        valued_from=ValuationSources(
            live=current.live, snapshot=current.snapshot, estimated=current.estimated
        ),
    )


# --- custom -----------------------------------------------------------------------------------


def _metric_expressions(repo: AnalyticsRepository) -> dict[str, Expression]:
    closed = T.is_open.is_(False)
    closed_count = func.sum(case((closed, 1), else_=0))
    wins = func.sum(case((closed & (T.profit_ratio >= 0), 1), else_=0))
    return {
        "trade_count": func.count(),
        "profit_abs": func.sum(T.profit_abs),
        "profit_ratio_mean": cast(func.avg(T.profit_ratio), Float),
        "win_rate": cast(wins, Float) / func.nullif(closed_count, 0),
        "avg_duration_minutes": func.avg(
            case((closed, repo.seconds_between(T.open_date, T.close_date)))
        )
        / 60.0,
        "volume": func.sum(T.stake_amount),
    }


def _group_expressions(repo: AnalyticsRepository) -> dict[str, Expression]:
    when = func.coalesce(T.close_date, T.open_date)
    return {
        "bot": T.bot_id,
        "strategy": T.strategy,
        "pair": T.pair,
        "base_currency": T.base_currency,
        "stake_currency": T.stake_currency,
        "exit_reason": T.exit_reason,
        "enter_tag": T.enter_tag,
        "is_short": T.is_short,
        "day": repo.period_start("day", when),
        "week": repo.period_start("week", when),
        "month": repo.period_start("month", when),
    }


def _check_names(query: CustomQuery) -> None:
    for field, names in (("group_by", query.group_by), ("metrics", query.metrics)):
        if len(set(names)) != len(names):
            raise InvalidInput.field(field, f"{field} names a value twice.")
    chosen = [*query.group_by, *query.metrics]
    if query.order_by is not None and query.order_by not in chosen:
        message = "order_by must be one of the chosen group_by or metrics."
        raise InvalidInput(
            message,
            details={"fields": [{"field": "order_by", "message": message, "allowed": chosen}]},
        )


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    return float(value)


async def custom(
    session: AsyncSession, principal: Principal, ctx: AnalyticsContext, query: CustomQuery
) -> CustomResult:
    """Group-by and metrics from whitelists over the caller's trades. Open trades count with
    their unrealised profit (filter `is_open` for one kind); win rate and duration use the closed
    trades of each group. A trade's date (filters, day/week/month) is its close date, or its
    open date while it is open."""
    _check_names(query)
    repo = AnalyticsRepository(session)
    f = query.filters
    grouped_by_currency = "stake_currency" in query.group_by
    scope = await resolve_scope(
        repo,
        principal,
        ctx,
        bot_id=f.bot_id,
        strategy=f.strategy,
        stake_currency=f.stake_currency,
        since=f.since,
        until=f.until,
        single_currency=bool(MONEY_METRICS & set(query.metrics)) and not grouped_by_currency,
    )
    trades = TradeScope(
        bot_id=f.bot_id,
        strategy=f.strategy,
        stake_currency=scope.stake_currency,
        pair=f.pair,
        base_currency=f.base_currency,
        exit_reason=f.exit_reason,
        enter_tag=f.enter_tag,
        is_open=f.is_open,
        is_short=f.is_short,
        min_profit=f.min_profit,
        max_profit=f.max_profit,
    )
    groups = _group_expressions(repo)
    measures = _metric_expressions(repo)
    rows = await repo.custom(
        principal,
        trades,
        scope.since,
        scope.until,
        [(name, groups[name]) for name in query.group_by],
        [(name, measures[name]) for name in query.metrics],
        query.order_by,
        query.descending,
        query.limit,
    )
    result = [
        CustomRow(
            group={name: _plain(row[name]) for name in query.group_by},
            metrics={
                name: int(row[name] or 0) if name == "trade_count" else _plain(row[name])
                for name in query.metrics
            },
        )
        for row in rows[: query.limit]
    ]
    for row in result:
        # Without group_by, no matching trade is still one row, and its sums are 0, not null.
        for name in MONEY_METRICS & set(query.metrics):
            row.metrics[name] = row.metrics[name] or 0.0
    return CustomResult(
        stake_currency=None if grouped_by_currency else scope.stake_currency,
        group_by=query.group_by,
        metrics=query.metrics,
        rows=result,
        truncated=len(rows) > query.limit,
    )

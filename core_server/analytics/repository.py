"""Queries for analytics. Everything is aggregated in the database (GROUP BY, SUM, COUNT, window
functions) over the tenant-filtered trades, so the server receives a few small result sets however
many trades the fleet has; the database still scans the trades in scope, which is why the
closed-trade aggregates are cached (see cache.py). Tenant scoping is in the `readable_*` helpers
(bots: `BotRepository.readable`) and every read uses one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    ColumnElement,
    Date,
    Float,
    Select,
    and_,
    case,
    cast,
    func,
    literal,
    null,
    or_,
    select,
    true,
    type_coerce,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute

from core_server.auth.principal import Principal
from core_server.bots.models import Bot, BotKind
from core_server.bots.repository import BotRepository
from core_server.collector.models import EquitySnapshot, MirroredTrade

T = MirroredTrade
# A column or an expression over columns, as group-by keys and metrics are.
Expression = ColumnElement[Any] | QueryableAttribute[Any]


@dataclass(frozen=True)
class TradeScope:
    """Conditions on trades; None means "any"."""

    bot_id: int | None = None
    strategy: str | None = None
    stake_currency: str | None = None
    pair: str | None = None
    base_currency: str | None = None
    exit_reason: str | None = None
    enter_tag: str | None = None
    is_open: bool | None = None
    is_short: bool | None = None
    min_profit: float | None = None
    max_profit: float | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        equal: list[tuple[Any, Any]] = [
            (T.bot_id, self.bot_id),
            (T.strategy, self.strategy),
            (T.stake_currency, self.stake_currency),
            (T.pair, self.pair),
            (T.base_currency, self.base_currency),
            (T.exit_reason, self.exit_reason),
            (T.enter_tag, self.enter_tag),
            (T.is_open, self.is_open),
            (T.is_short, self.is_short),
        ]
        out: list[ColumnElement[bool]] = [
            column == value for column, value in equal if value is not None
        ]
        if self.min_profit is not None:
            out.append(T.profit_abs >= self.min_profit)
        if self.max_profit is not None:
            out.append(T.profit_abs <= self.max_profit)
        return out


@dataclass(frozen=True)
class BotRow:
    id: int
    stake_currency: str
    dry_run: bool
    kind: str
    dry_run_wallet: float
    config: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class DailyRow:
    day: date
    trade_count: int
    wins: int
    profit_abs: float
    gross_profit: float
    gross_loss: float
    duration_seconds: float
    first_open: datetime
    last_close: datetime


@dataclass(frozen=True)
class DrawdownRow:
    """The point of the deepest absolute drawdown on the per-trade closed-profit curve."""

    drawdown_abs: float
    peak: float  # the curve's high before that point, at least 0 (the start)
    highest: float  # the curve's highest point overall, at least 0


@dataclass(frozen=True)
class PositionRow:
    bot_id: int
    pair: str
    base_currency: str
    trade_count: int
    stake_abs: float
    unrealised_abs: float


@dataclass(frozen=True)
class PositionTotals:
    trade_count: int
    stake_abs: float
    unrealised_abs: float


@dataclass(frozen=True)
class SnapshotRow:
    bot_id: int
    equity: float
    free: float


def _float(expression: Any) -> ColumnElement[float]:
    """Money as a float in SQL: the reports are floats (as freqtrade's are), and decoding
    thousands of Decimals costs more than the query."""
    return cast(expression, Float)


def _f(value: Decimal | float | int | None) -> float:
    return float(value) if value is not None else 0.0


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


class AnalyticsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.bots = BotRepository(session)
        self._closed_version: int | None = None

    @property
    def dialect(self) -> str:
        return self.session.get_bind().dialect.name

    # --- tenancy ------------------------------------------------------------------------------

    def readable_trades(self, principal: Principal) -> Select[MirroredTrade]:
        stmt = select(MirroredTrade)
        return stmt if principal.is_admin else stmt.where(T.owner_id == principal.user_id)

    def readable_snapshots(self, principal: Principal) -> Select[EquitySnapshot]:
        stmt = select(EquitySnapshot)
        if principal.is_admin:
            return stmt
        return stmt.where(EquitySnapshot.owner_id == principal.user_id)

    def _trades(self, principal: Principal, scope: TradeScope, *columns: Any) -> Select[Any]:
        return (
            self.readable_trades(principal)
            .with_only_columns(*columns, maintain_column_froms=True)
            .where(*scope.conditions())
        )

    async def trade_currencies(self, principal: Principal, scope: TradeScope) -> list[str]:
        stmt = self._trades(principal, scope, T.stake_currency).distinct()
        return list((await self.session.execute(stmt)).scalars())

    # --- dialect-specific expressions ---------------------------------------------------------

    def period_start(self, unit: str, column: Any) -> ColumnElement[str]:
        """The first day of the UTC day, ISO week (Monday) or month of `column`, 'YYYY-MM-DD'."""
        if self.dialect == "sqlite":
            # SQLite keeps our timestamps as UTC text; its date functions read that text.
            if unit == "day":
                return func.strftime("%Y-%m-%d", column)
            if unit == "week":
                return func.strftime("%Y-%m-%d", column, "weekday 0", "-6 days")
            return func.strftime("%Y-%m-01", column)
        utc = func.timezone("UTC", column)
        return func.to_char(func.date_trunc(unit, utc), "YYYY-MM-DD")

    def utc_day(self, column: Any) -> ColumnElement[Any]:
        """The UTC date of `column`: a date on PostgreSQL, 'YYYY-MM-DD' text on SQLite."""
        if self.dialect == "sqlite":
            return func.date(column)
        return cast(func.timezone("UTC", column), Date)

    def seconds_between(self, start: Any, end: Any) -> ColumnElement[float]:
        if self.dialect == "sqlite":
            # julianday() is a float of days: rounded to the millisecond it is exact again.
            return func.round((func.julianday(end) - func.julianday(start)) * 86400.0, 3)
        return cast(func.extract("epoch", end - start), Float)

    # --- data version -------------------------------------------------------------------------

    async def closed_version(self, principal: Principal) -> int:
        """How many closed trades the caller can see: it grows whenever a trade is mirrored as
        closed for one of the caller's bots. Unlike the newest event id it is read from
        committed state, so transactions committing out of id order cannot hide a trade. An
        index-only count on (owner_id, close_date). Read once per repository, that is per
        request."""
        if self._closed_version is None:
            stmt = (
                self.readable_trades(principal)
                .with_only_columns(func.count(T.close_date), maintain_column_froms=True)
                .where(T.close_date.is_not(None))
            )
            self._closed_version = int((await self.session.execute(stmt)).scalar_one())
        return self._closed_version

    # --- bots ---------------------------------------------------------------------------------

    def scoped_bots_stmt(
        self, principal: Principal, bot_id: int | None, strategy: str | None
    ) -> Select[Any]:
        stmt = self.bots.readable(principal)
        if bot_id is not None:
            stmt = stmt.where(Bot.id == bot_id)
        if strategy is not None:
            stmt = stmt.where(Bot.strategy_name == strategy)
        return stmt

    async def bot_exists(self, principal: Principal, bot_id: int) -> bool:
        stmt = self.bots.readable(principal).with_only_columns(Bot.id).where(Bot.id == bot_id)
        return (await self.session.execute(stmt)).first() is not None

    async def scoped_bots(
        self, principal: Principal, bot_id: int | None, strategy: str | None
    ) -> list[BotRow]:
        # Only a managed dry-run bot's config matters (its starting capital comes from it);
        # decoding every bot's config JSON was a fifth of a fleet request at 1,000 bots.
        config = case((and_(Bot.kind == BotKind.managed, Bot.dry_run), Bot.config), else_=null())
        stmt = self.scoped_bots_stmt(principal, bot_id, strategy).with_only_columns(
            Bot.id,
            Bot.stake_currency,
            Bot.dry_run,
            Bot.kind,
            Bot.dry_run_wallet,
            type_coerce(config, JSON),
            Bot.created_at,
        )
        rows = await self.session.execute(stmt.order_by(Bot.id))
        return [
            BotRow(
                id=r[0],
                stake_currency=r[1],
                dry_run=bool(r[2]),
                kind=r[3],
                dry_run_wallet=_f(r[4]),
                config=r[5] or {},
                created_at=r[6],
            )
            for r in rows.all()
        ]

    # --- closed trades ------------------------------------------------------------------------

    @staticmethod
    def _closed_window(since: datetime | None, until: datetime | None) -> list[ColumnElement[bool]]:
        out: list[ColumnElement[bool]] = [T.is_open.is_(False), T.close_date.is_not(None)]
        if since is not None:
            out.append(T.close_date >= since)
        if until is not None:
            out.append(T.close_date < until)
        return out

    async def daily_closed(
        self,
        principal: Principal,
        scope: TradeScope,
        since: datetime | None,
        until: datetime | None,
    ) -> list[DailyRow]:
        """Closed trades per UTC day of their close. This scan is most of what a fleet report
        costs, so it is kept lean: a native date, FILTER instead of CASE."""
        day = self.utc_day(T.close_date).label("day")
        stmt = (
            self._trades(
                principal,
                scope,
                day,
                func.count(),
                func.count().filter(T.profit_ratio >= 0),
                _float(func.sum(T.profit_abs)),
                _float(func.sum(T.profit_abs).filter(T.profit_abs > 0)),
                _float(func.sum(T.profit_abs).filter(T.profit_abs < 0)),
                _float(func.sum(self.seconds_between(T.open_date, T.close_date))),
                func.min(T.open_date),
                func.max(T.close_date),
            )
            .where(*self._closed_window(since, until))
            .group_by(day)
            .order_by(day)
        )
        rows = (await self.session.execute(stmt)).all()
        return [
            DailyRow(
                day=_as_date(r[0]),
                trade_count=int(r[1]),
                wins=int(r[2] or 0),
                profit_abs=_f(r[3]),
                gross_profit=_f(r[4]),
                gross_loss=_f(r[5]),
                duration_seconds=_f(r[6]),
                first_open=_utc(r[7]),
                last_close=_utc(r[8]),
            )
            for r in rows
        ]

    async def closed_profit_before(
        self, principal: Principal, scope: TradeScope, moment: datetime
    ) -> float:
        stmt = self._trades(principal, scope, func.sum(T.profit_abs)).where(
            *self._closed_window(None, moment)
        )
        return _f((await self.session.execute(stmt)).scalar_one())

    async def closed_profit_by_bot(
        self, principal: Principal, scope: TradeScope, bot_ids: Sequence[int], moment: datetime
    ) -> dict[int, float]:
        """Closed profit per bot up to `moment` (inclusive)."""
        if not bot_ids:
            return {}
        stmt = (
            self._trades(principal, scope, T.bot_id, func.sum(T.profit_abs))
            .where(T.is_open.is_(False), T.close_date <= moment, T.bot_id.in_(list(bot_ids)))
            .group_by(T.bot_id)
        )
        return {int(r[0]): _f(r[1]) for r in (await self.session.execute(stmt)).all()}

    async def drawdown(
        self,
        principal: Principal,
        scope: TradeScope,
        since: datetime | None,
        until: datetime | None,
    ) -> DrawdownRow | None:
        """The deepest drawdown of the closed-profit curve, trade by trade in close order (as
        freqtrade's `calculate_max_drawdown`: the first deepest point, the high clamped at 0)."""
        order = (T.close_date, T.id)
        curve = (
            self._trades(
                principal,
                scope,
                T.close_date,
                T.id,
                func.sum(T.profit_abs).over(order_by=order, rows=(None, 0)).label("cum"),
            )
            .where(*self._closed_window(since, until))
            .subquery()
        )
        running_high = func.max(curve.c.cum).over(
            order_by=(curve.c.close_date, curve.c.id), rows=(None, 0)
        )
        peaks = select(
            curve.c.close_date,
            curve.c.id,
            curve.c.cum,
            case((running_high > 0, running_high), else_=literal(0)).label("peak"),
            func.max(curve.c.cum).over().label("highest"),
        ).subquery()
        depth = peaks.c.peak - peaks.c.cum
        stmt = (
            select(depth, peaks.c.peak, peaks.c.highest)
            .order_by(depth.desc(), peaks.c.close_date, peaks.c.id)
            .limit(1)
        )
        row = (await self.session.execute(stmt)).first()
        if row is None:
            return None
        return DrawdownRow(
            drawdown_abs=max(_f(row[0]), 0.0),
            peak=_f(row[1]),
            highest=max(_f(row[2]), 0.0),
        )

    # --- open positions -----------------------------------------------------------------------

    async def open_totals(self, principal: Principal, scope: TradeScope) -> PositionTotals:
        """Count, stake and unrealised profit of the trades open now, in one row."""
        stmt = self._trades(
            principal,
            scope,
            func.count(),
            _float(func.sum(T.stake_amount)),
            _float(func.sum(T.profit_abs)),
        ).where(T.is_open.is_(True), T.close_date.is_(None))
        row = (await self.session.execute(stmt)).one()
        return PositionTotals(int(row[0]), _f(row[1]), _f(row[2]))

    async def positions(
        self, principal: Principal, scope: TradeScope, at: datetime | None = None
    ) -> list[PositionRow]:
        """Trades open now (at=None: their unrealised profit from the last sync), or open at a
        past moment (stake only: their profit then is not known)."""
        if at is None:
            # An open trade has no close date; saying so lets (owner_id, close_date) serve.
            open_then: ColumnElement[bool] = and_(T.is_open.is_(True), T.close_date.is_(None))
            unrealised: Any = _float(func.sum(T.profit_abs))
        else:
            open_then = and_(
                T.open_date <= at,
                or_(T.is_open.is_(True), T.close_date > at),
            )
            unrealised = literal(0)
        stmt = (
            self._trades(
                principal,
                scope,
                T.bot_id,
                T.pair,
                T.base_currency,
                func.count(),
                _float(func.sum(T.stake_amount)),
                unrealised,
            )
            .where(open_then)
            .group_by(T.bot_id, T.pair, T.base_currency)
            .order_by(T.bot_id, T.pair)
        )
        return [
            PositionRow(
                bot_id=int(r[0]),
                pair=r[1],
                base_currency=r[2],
                trade_count=int(r[3]),
                stake_abs=_f(r[4]),
                unrealised_abs=_f(r[5]),
            )
            for r in (await self.session.execute(stmt)).all()
        ]

    # --- equity snapshots ---------------------------------------------------------------------

    async def snapshots_at(
        self,
        principal: Principal,
        bot_id: int | None,
        strategy: str | None,
        stake_currency: str | None,
        moment: datetime,
    ) -> dict[int, SnapshotRow]:
        """Each scoped bot's last equity snapshot at or before `moment`: one index seek per bot
        (LATERAL ... LIMIT 1 on PostgreSQL, correlated subqueries on SQLite), not a scan of the
        bots' whole history."""

        def latest(*columns: Any) -> Select[Any]:
            return (
                self.readable_snapshots(principal)
                .with_only_columns(*columns)
                .where(EquitySnapshot.bot_id == Bot.id, EquitySnapshot.taken_at <= moment)
                .order_by(EquitySnapshot.taken_at.desc())
                .limit(1)
            )

        bots = self.scoped_bots_stmt(principal, bot_id, strategy)
        if stake_currency is not None:
            bots = bots.where(Bot.stake_currency == stake_currency)
        if self.dialect == "postgresql":
            snapshot = latest(
                _float(EquitySnapshot.equity).label("equity"),
                _float(EquitySnapshot.free).label("free"),
            ).lateral()
            stmt = bots.with_only_columns(Bot.id, snapshot.c.equity, snapshot.c.free).join(
                snapshot, true()
            )
        else:
            stmt = bots.with_only_columns(
                Bot.id,
                latest(_float(EquitySnapshot.equity)).scalar_subquery(),
                latest(_float(EquitySnapshot.free)).scalar_subquery(),
            )
        rows = (await self.session.execute(stmt)).all()
        return {
            int(r[0]): SnapshotRow(int(r[0]), _f(r[1]), _f(r[2])) for r in rows if r[1] is not None
        }

    # --- custom -------------------------------------------------------------------------------

    async def custom(
        self,
        principal: Principal,
        scope: TradeScope,
        since: datetime | None,
        until: datetime | None,
        groups: Sequence[tuple[str, Expression]],
        metrics: Sequence[tuple[str, Expression]],
        order_by: str | None,
        descending: bool,
        limit: int,
    ) -> list[dict[str, Any]]:
        columns = [expr.label(name) for name, expr in (*groups, *metrics)]
        stmt = self._trades(principal, scope, *columns)
        when = func.coalesce(T.close_date, T.open_date)
        if since is not None:
            stmt = stmt.where(when >= since)
        if until is not None:
            stmt = stmt.where(when < until)
        if groups:
            stmt = stmt.group_by(*columns[: len(groups)])
        keys = columns[: len(groups)]
        if order_by is not None:
            chosen = next(c for c in columns if c.name == order_by)
            first = (chosen.desc() if descending else chosen.asc()).nulls_last()
            stmt = stmt.order_by(first, *keys)
        elif keys:
            stmt = stmt.order_by(*keys)
        rows = (await self.session.execute(stmt.limit(limit + 1))).mappings().all()
        return [dict(row) for row in rows]


def _utc(value: Any) -> datetime:
    """Aggregates lose the column type on SQLite, so MIN/MAX of a timestamp come back as text."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)

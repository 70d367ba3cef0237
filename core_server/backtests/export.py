"""Reading freqtrade's own exports. The maintainers say their layout is no public interface, so
everything is read defensively (`.get`) and tested against the pinned freqtrade.

- Backtests (`--export trades`): `.last_result.json` names the zip; the zip holds `<stem>.json`
  = {"strategy": {Name: stats}, ...} and `<stem>_<Name>_wallet.feather` (the wallet per candle).
- Hyperopt: `hyperopt-show --best --print-json` prints the best parameters as the last line,
  and freqtrade writes `<strategy file>.json` beside the strategy (its own parameter file);
  every epoch is a JSON line in `hyperopt_results/*.fthypt`.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any

SUMMARY_KEYS = (
    "strategy_name", "timeframe", "timerange", "backtest_start", "backtest_end", "backtest_days",
    "stake_currency", "stake_amount", "max_open_trades", "starting_balance", "final_balance",
    "total_trades", "trades_per_day", "wins", "draws", "losses", "winrate", "profit_total",
    "profit_total_abs", "profit_mean", "profit_median", "profit_factor", "expectancy",
    "expectancy_ratio", "cagr", "sharpe", "sortino", "calmar", "sqn", "market_change",
    "max_drawdown_account", "max_relative_drawdown", "max_drawdown_abs", "drawdown_start",
    "drawdown_end", "holding_avg", "holding_avg_s", "best_pair", "worst_pair", "total_volume",
    "freqaimodel", "freqai_identifier", "pairlist",
)  # fmt: skip
TRADE_KEYS = (
    "pair", "is_open", "is_short", "open_date", "close_date", "open_rate", "close_rate",
    "amount", "stake_amount", "leverage", "fee_open", "fee_close", "profit_ratio",
    "profit_abs", "exit_reason", "enter_tag", "trade_duration", "open_timestamp",
    "close_timestamp", "min_rate", "max_rate",
)  # fmt: skip
# Mark-to-market points kept from the wallet export (one per candle otherwise).
MAX_WALLET_POINTS = 1000


class ExportError(Exception):
    """freqtrade finished but its export is missing or unreadable."""


@dataclass
class BacktestExport:
    export_file: Path
    summary: dict[str, Any]
    per_pair: list[dict[str, Any]]
    trades: list[dict[str, Any]]
    equity_curve: list[dict[str, Any]]
    drawdown: list[dict[str, Any]]
    exit_reasons: list[dict[str, Any]]
    extra: dict[str, Any] = field(default_factory=dict)


def latest_backtest(directory: Path) -> Path:
    try:
        name = json.loads((directory / ".last_result.json").read_text())["latest_backtest"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ExportError(f"freqtrade wrote no backtest export in {directory}") from exc
    path = directory / Path(str(name)).name
    if not path.exists():
        raise ExportError(f"freqtrade's export {path.name} is missing")
    return path


def read_backtest_export(directory: Path, strategy: str | None = None) -> BacktestExport:
    path = latest_backtest(directory)
    try:
        with zipfile.ZipFile(path) as archive:
            data = json.loads(archive.read(f"{path.stem}.json"))
            wallet_names = [n for n in archive.namelist() if n.endswith("_wallet.feather")]
            wallet = archive.read(wallet_names[0]) if wallet_names else None
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise ExportError(f"freqtrade's export {path.name} is unreadable: {exc}") from exc
    strategies = data.get("strategy") or {}
    if not strategies:
        raise ExportError(f"freqtrade's export {path.name} holds no strategy results")
    stats = strategies.get(strategy) if strategy else None
    stats = stats or next(iter(strategies.values()))
    return parse_stats(path, stats, wallet)


def parse_stats(path: Path, stats: dict[str, Any], wallet: bytes | None) -> BacktestExport:
    trades = [{key: trade.get(key) for key in TRADE_KEYS} for trade in stats.get("trades", [])]
    starting_balance = float(stats.get("starting_balance") or 0.0)
    equity, drawdown = equity_and_drawdown(
        trades, starting_balance, str(stats.get("backtest_start") or "")
    )
    summary = {key: stats.get(key) for key in SUMMARY_KEYS}
    summary["left_open_trades"] = sum(1 for t in trades if t.get("is_open"))
    return BacktestExport(
        export_file=path,
        summary=summary,
        per_pair=list(stats.get("results_per_pair") or []),
        trades=trades,
        equity_curve=equity,
        drawdown=drawdown,
        exit_reasons=list(stats.get("exit_reason_summary") or []),
        extra={
            "daily_profit": stats.get("daily_profit") or [],
            "wallet_curve": wallet_curve(wallet) if wallet else [],
            "wallet_stats": stats.get("wallet_stats") or {},
        },
    )


def equity_and_drawdown(
    trades: list[dict[str, Any]], starting_balance: float, start: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The closed-trade equity curve and its drawdown series, computed the way freqtrade
    computes `max_drawdown_abs` and `max_drawdown_account` (data/metrics.py
    `_calc_drawdown_series`: cumulative profit_abs in close order, the high water mark never
    below zero, relative to the starting balance plus that mark)."""
    ordered = sorted(
        (t for t in trades if t.get("close_date")), key=lambda t: str(t.get("close_date"))
    )
    equity = [{"date": start or None, "equity": starting_balance, "profit_abs": 0.0}]
    drawdown = [{"date": start or None, "drawdown_abs": 0.0, "drawdown_relative": 0.0}]
    cumulative = 0.0
    high = 0.0
    for trade in ordered:
        cumulative += float(trade.get("profit_abs") or 0.0)
        high = max(high, cumulative)
        balance = starting_balance + cumulative
        peak = starting_balance + high
        equity.append(
            {"date": trade.get("close_date"), "equity": balance, "profit_abs": cumulative}
        )
        drawdown.append(
            {
                "date": trade.get("close_date"),
                "drawdown_abs": cumulative - high,
                "drawdown_relative": (peak - balance) / peak if peak else 0.0,
            }
        )
    return equity, drawdown


def wallet_curve(raw: bytes) -> list[dict[str, Any]]:
    """Mark-to-market equity per candle from freqtrade's wallet export (the value of every
    currency held, in the stake currency), thinned to at most MAX_WALLET_POINTS. Summed with
    pyarrow: a year of 5m candles over a few currencies is half a million rows."""
    import pyarrow.feather as feather  # type: ignore[import-untyped]

    try:
        table = feather.read_table(io.BytesIO(raw), columns=["date", "total_quote"])
        totals = table.group_by("date").aggregate([("total_quote", "sum")]).sort_by("date")
    except (OSError, ValueError, KeyError):
        return []
    count = totals.num_rows
    if count == 0:
        return []
    step = max(1, -(-count // MAX_WALLET_POINTS))
    keep = list(range(0, count, step))
    if keep[-1] != count - 1:
        keep.append(count - 1)
    thinned = totals.take(keep)
    dates = thinned.column("date").to_pylist()
    values = thinned.column("total_quote_sum").to_pylist()
    return [
        {"date": moment.astimezone(UTC).isoformat(), "equity": float(value)}
        for moment, value in zip(dates, values, strict=True)
        if moment is not None and value is not None
    ]


@dataclass
class HyperoptExport:
    best_params: dict[str, Any]
    parameter_file: dict[str, Any] | None
    summary: dict[str, Any]
    epochs_done: int


def last_json_line(output: list[str]) -> dict[str, Any] | None:
    for line in reversed(output):
        text = line.strip()
        if text.startswith("{") and text.endswith("}"):
            try:
                value = json.loads(text)
            except ValueError:
                continue
            if isinstance(value, dict):
                return value
    return None


def best_epoch(results_dir: Path) -> tuple[dict[str, Any] | None, int]:
    """The best epoch of the newest .fthypt file (the lowest loss), and how many epochs it has."""
    files = sorted(results_dir.glob("*.fthypt"), key=lambda p: p.stat().st_mtime)
    if not files:
        return None, 0
    best: dict[str, Any] | None = None
    count = 0
    with files[-1].open(encoding="utf-8") as lines:
        for line in lines:
            try:
                epoch = json.loads(line)
            except ValueError:
                continue
            count += 1
            if best is None or float(epoch.get("loss", float("inf"))) < float(best["loss"]):
                best = epoch
    return best, count


def count_epochs(results_dir: Path) -> int:
    files = sorted(results_dir.glob("*.fthypt"), key=lambda p: p.stat().st_mtime)
    if not files:
        return 0
    with files[-1].open("rb") as handle:
        return sum(1 for _ in handle)


def read_hyperopt_export(
    results_dir: Path, show_output: list[str], parameter_path: Path
) -> HyperoptExport:
    best_params = last_json_line(show_output)
    if best_params is None:
        raise ExportError("`freqtrade hyperopt-show --best --print-json` printed no parameters")
    parameter_file = None
    if parameter_path.exists():
        try:
            parameter_file = json.loads(parameter_path.read_text())
        except ValueError:
            parameter_file = None
    epoch, count = best_epoch(results_dir)
    summary: dict[str, Any] = {"epochs": count}
    if epoch is not None:
        metrics = epoch.get("results_metrics") or {}
        summary.update(
            {
                "best_epoch": epoch.get("current_epoch"),
                "loss": epoch.get("loss"),
                **{
                    key: metrics.get(key)
                    for key in (
                        "total_trades",
                        "wins",
                        "draws",
                        "losses",
                        "winrate",
                        "profit_total",
                        "profit_total_abs",
                        "profit_mean",
                        "max_drawdown_account",
                        "max_drawdown_abs",
                        "sharpe",
                        "sortino",
                        "calmar",
                    )  # fmt: skip
                },
            }
        )
    return HyperoptExport(best_params, parameter_file, summary, count)

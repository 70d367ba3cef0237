"""A managed bot's directory and its generated freqtrade configuration.

Layout under DATA_DIR/bots/<id>/: config.json (no secrets: those reach freqtrade through its
FREQTRADE__* environment variables), user_data/ (strategies, data, logs), freqtrade.log (the
process's output) and tradesv3.sqlite (its trade database).
"""

from __future__ import annotations

import copy
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core_server.bots.models import Bot

# freqtrade's own default: the share of the wallet a bot may stake. Analytics divides by it.
TRADABLE_BALANCE_RATIO = 0.99
USER_DATA_FOLDERS = ("strategies", "data", "logs", "backtest_results", "hyperopt_results")


@dataclass(frozen=True)
class BotPaths:
    root: Path

    @classmethod
    def of(cls, data_dir: Path, bot_id: int) -> BotPaths:
        return cls((data_dir / "bots" / str(bot_id)).resolve())

    @property
    def config(self) -> Path:
        return self.root / "config.json"

    @property
    def user_data(self) -> Path:
        return self.root / "user_data"

    @property
    def strategies(self) -> Path:
        return self.user_data / "strategies"

    @property
    def log(self) -> Path:
        return self.root / "freqtrade.log"

    @property
    def database(self) -> Path:
        return self.root / "tradesv3.sqlite"

    def create(self) -> None:
        for folder in USER_DATA_FOLDERS:
            (self.user_data / folder).mkdir(parents=True, exist_ok=True)

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass(frozen=True)
class BotSecrets:
    api_password: str
    jwt_secret: str
    ws_token: str
    exchange_key: str | None = None
    exchange_secret: str | None = None

    def environment(self) -> dict[str, str]:
        """freqtrade reads FREQTRADE__SECTION__KEY variables into its config."""
        env = {
            "FREQTRADE__API_SERVER__PASSWORD": self.api_password,
            "FREQTRADE__API_SERVER__JWT_SECRET_KEY": self.jwt_secret,
            "FREQTRADE__API_SERVER__WS_TOKEN": self.ws_token,
        }
        if self.exchange_key and self.exchange_secret:
            env["FREQTRADE__EXCHANGE__KEY"] = self.exchange_key
            env["FREQTRADE__EXCHANGE__SECRET"] = self.exchange_secret
        return env


def deep_merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def build_config(
    bot: Bot, paths: BotPaths, exchange_block: dict[str, Any], overrides: dict[str, Any]
) -> dict[str, Any]:
    """The freqtrade config for a managed bot, without secrets."""
    assert bot.api_port is not None  # noqa: S101 - managed bots always have a port
    config: dict[str, Any] = {
        "bot_name": bot.name,
        "strategy": bot.strategy_name,
        "max_open_trades": bot.max_open_trades,
        "stake_currency": bot.stake_currency,
        "stake_amount": float(bot.stake_amount),
        "tradable_balance_ratio": TRADABLE_BALANCE_RATIO,
        "dry_run": bot.dry_run,
        "dry_run_wallet": float(bot.dry_run_wallet),
        "timeframe": bot.timeframe,
        "initial_state": "running",
        # Lets the API force trades; freqtrade refuses /forceenter without it.
        "force_entry_enable": True,
        "cancel_open_orders_on_exit": False,
        "unfilledtimeout": {"entry": 10, "exit": 10, "unit": "minutes"},
        # Priced against the other side of the book, so dry-run orders fill at once as they would
        # with a market order; a strategy that wants maker prices overrides entry_pricing.
        "entry_pricing": {
            "price_side": "other",
            "use_order_book": True,
            "order_book_top": 1,
            "price_last_balance": 0.0,
            "check_depth_of_market": {"enabled": False, "bids_to_ask_delta": 1},
        },
        "exit_pricing": {"price_side": "other", "use_order_book": True, "order_book_top": 1},
        # Strategy orders stay limit orders; a trade forced through the API is meant to happen
        # now, so it goes at market (a dry-run limit order can rest unfilled if the price moves).
        "order_types": {
            "entry": "limit",
            "exit": "limit",
            "emergency_exit": "market",
            "force_entry": "market",
            "force_exit": "market",
            "stoploss": "market",
            "stoploss_on_exchange": False,
        },
        "exchange": {**exchange_block, "pair_whitelist": list(bot.pairs), "pair_blacklist": []},
        "pairlists": [{"method": "StaticPairList"}],
        "api_server": {
            "enabled": True,
            "listen_ip_address": "127.0.0.1",
            "listen_port": bot.api_port,
            "verbosity": "error",
            "enable_openapi": False,
            "CORS_origins": [],
            "username": bot.api_username,
        },
        "internals": {"process_throttle_secs": 5, "heartbeat_interval": 300},
        "db_url": f"sqlite:///{paths.database}",
        "user_data_dir": str(paths.user_data),
    }
    return deep_merge(config, overrides)


def write_config(path: Path, config: dict[str, Any]) -> None:
    """Written aside and renamed, so a crash never leaves half a config."""
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_suffix(".json.tmp")
    draft.write_text(json.dumps(config, indent=2))
    os.replace(draft, path)


def mask_secrets(config: dict[str, Any]) -> dict[str, Any]:
    masked = copy.deepcopy(config)
    for section, keys in (
        ("api_server", ("password", "jwt_secret_key", "ws_token")),
        ("exchange", ("key", "secret", "password", "uid")),
    ):
        block = masked.get(section)
        if isinstance(block, dict):
            for key in keys:
                if key in block:
                    block[key] = "***"
    return masked

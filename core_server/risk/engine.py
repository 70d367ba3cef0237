"""Evaluates risk rules after each collection round of a bot (filled in by the risk work)."""

from __future__ import annotations

from core_server.bots.manager import BotManager
from core_server.bots.models import Bot
from core_server.collector.cache import LiveStateCache
from core_server.core.database import Database
from core_server.realtime.bus import EventBus


class RiskEngine:
    def __init__(
        self, database: Database, manager: BotManager, bus: EventBus, cache: LiveStateCache
    ) -> None:
        self.database = database
        self.manager = manager
        self.bus = bus
        self.cache = cache

    async def after_sync(self, bot: Bot) -> None:
        """Called by the collector after every successful sync of `bot`."""
        return None

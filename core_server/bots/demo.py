"""The demo fleet: two dry-run bots on the simulator, made at the first start of an install so
a newcomer sees a working fleet at once. They belong to a `demo` account that cannot log in;
administrators see them like every bot. Made once: deleting them is respected (DEMO_FLEET=false
turns them off altogether)."""

from __future__ import annotations

import logging
import secrets
from decimal import Decimal

from sqlalchemy.exc import IntegrityError

from core_server.audit import service as audit
from core_server.auth.models import SYSTEM_USERNAMES, Role, User
from core_server.auth.repository import UserRepository
from core_server.bots.manager import BotManager
from core_server.bots.models import Bot, BotKind, BotStatus, DesiredState
from core_server.bots.schemas import SIMULATOR
from core_server.core.database import Database
from core_server.core.security import hash_password

logger = logging.getLogger(__name__)

DEMO_USERNAME = "demo"
assert DEMO_USERNAME in SYSTEM_USERNAMES  # noqa: S101 - else it would close registration
DEMO_BOTS = (
    ("demo-alpha", ["BTC/USDT", "ETH/USDT"], "Demo: SampleStrategy on BTC and ETH, dry-run."),
    ("demo-beta", ["SOL/USDT", "BNB/USDT", "XRP/USDT"], "Demo: SampleStrategy on alt-coins."),
)


async def ensure_demo_fleet(database: Database, manager: BotManager) -> None:
    try:
        async with database.transaction() as session:
            if await UserRepository(session).by_username(DEMO_USERNAME) is not None:
                return
            owner = User(
                username=DEMO_USERNAME,
                email="demo@localhost.localdomain",
                hashed_password=await hash_password(secrets.token_urlsafe(32)),
                role=Role.trader,
                is_active=False,  # owns the demo bots; nobody logs in as it
            )
            session.add(owner)
            await session.flush()
            for name, pairs, description in DEMO_BOTS:
                bot = Bot(
                    name=name,
                    description=description,
                    owner_id=owner.id,
                    kind=BotKind.managed,
                    strategy_name="SampleStrategy",
                    exchange=SIMULATOR,
                    stake_currency="USDT",
                    stake_amount=Decimal(100),
                    max_open_trades=3,
                    pairs=pairs,
                    timeframe="5m",
                    dry_run=True,
                    config={},
                    # The supervisor starts what should run and is stopped.
                    status=BotStatus.stopped,
                    desired_state=DesiredState.running,
                    api_username="pending",
                    api_password="",  # noqa: S106 - set by new_credentials() below
                    restart_count=0,
                    api_port=await manager.allocate_port(session),
                )
                session.add(bot)
                await session.flush()
                manager.new_credentials(bot)
            audit.record(
                session,
                "bot.demo_fleet",
                actor_id=owner.id,
                actor_name=DEMO_USERNAME,
                details={"bots": [name for name, _, _ in DEMO_BOTS]},
            )
    except IntegrityError:
        return  # another server process made it first
    logger.info("created the demo fleet (%s)", ", ".join(name for name, _, _ in DEMO_BOTS))
    manager.wake()

"""The rules for bots: who may see and steer which, how they are created, started, stopped and
deleted, and how calls reach a bot's own API. Every face (REST, later MCP and chat) uses this."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core_server.audit import service as audit
from core_server.auth.principal import Principal
from core_server.bots.errors import (
    BotBusy,
    BotNameTaken,
    BotNotFound,
    BotNotRunning,
    BotRequestFailed,
    BotUnreachable,
    InvalidBotConfig,
    NotManaged,
    UnknownStrategy,
)
from core_server.bots.files import build_config, mask_secrets
from core_server.bots.manager import BotManager
from core_server.bots.models import Bot, BotKind, BotStatus, DesiredState
from core_server.bots.repository import BotRepository
from core_server.bots.schemas import (
    BotConfigRead,
    BotCreate,
    BotPage,
    BotRead,
    BotStateChange,
    BotUpdate,
    ExternalBotCreate,
    ForceEnter,
    ForceExit,
    check_pairs_and_live,
)
from core_server.core.database import after_commit
from core_server.core.errors import InvalidInput
from core_server.core.net_guard import OutboundPolicy
from core_server.freqtrade.client import BotApiError, FreqtradeClient
from core_server.freqtrade.schemas import FreqtradeModel
from core_server.strategies import service as strategies
from core_server.strategies.errors import StrategyVersionNotFound
from core_server.strategies.service import StrategySnapshot


def to_read(bot: Bot) -> BotRead:
    read = BotRead.model_validate(bot)
    read.has_exchange_keys = bool(bot.exchange_key and bot.exchange_secret)
    return read


async def _owned(session: AsyncSession, principal: Principal, bot_id: int) -> Bot:
    bot = await BotRepository(session).get(principal, bot_id)
    if bot is None:
        raise BotNotFound()
    return bot


async def list_bots(
    session: AsyncSession,
    principal: Principal,
    *,
    status: str | None,
    search: str | None,
    limit: int,
    offset: int,
) -> BotPage:
    rows, total = await BotRepository(session).page(
        principal, status=status, search=search, limit=limit, offset=offset
    )
    return BotPage(items=[to_read(b) for b in rows], total=total, limit=limit, offset=offset)


async def get_bot(session: AsyncSession, principal: Principal, bot_id: int) -> BotRead:
    return to_read(await _owned(session, principal, bot_id))


async def _pin_strategy(
    session: AsyncSession, manager: BotManager, owner_id: int, name: str, version: int | None
) -> StrategySnapshot | None:
    """The library version the bot will run (the owner's strategy called `name`, at `version`
    or its current one), or None for a strategy file such as freqtrade's SampleStrategy."""
    try:
        snapshot = await strategies.library_strategy(session, owner_id, name, version)
    except StrategyVersionNotFound as exc:
        raise UnknownStrategy.field("strategy_version", exc.message, code=exc.code) from exc
    if snapshot is not None:
        return snapshot
    if version is not None:
        raise UnknownStrategy.field(
            "strategy_version",
            f"'{name}' is not in your strategy library, so it has no versions to pin.",
            code=UnknownStrategy.code,
        )
    if (await manager.catalogue()).find(name) is None:
        raise UnknownStrategy.field(
            "strategy_name",
            f"No strategy '{name}' in the library (freqtrade's SampleStrategy is always there).",
            code=UnknownStrategy.code,
        )
    return None


def _pinned_fields(snapshot: StrategySnapshot | None) -> dict[str, Any]:
    return {
        "strategy_version_id": snapshot.version_id if snapshot else None,
        "strategy_version": snapshot.version if snapshot else None,
    }


async def _check_with_freqtrade(manager: BotManager, bot: Bot, overrides: dict[str, Any]) -> None:
    reason = await manager.check_config(bot, overrides)
    if reason:
        raise InvalidBotConfig(
            f"freqtrade refused the configuration: {reason}",
            details={"fields": [{"field": "config", "message": reason}], "freqtrade": reason},
        )


async def _insert(session: AsyncSession, bot: Bot) -> None:
    BotRepository(session).add(bot)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        # Another request took the name or the port between our checks and this insert.
        raise BotNameTaken("A bot with that name or port was just created; try again.") from exc


async def create_bot(
    session: AsyncSession, principal: Principal, manager: BotManager, body: BotCreate
) -> BotRead:
    repo = BotRepository(session)
    if await repo.name_taken(principal.user_id, body.name):
        raise BotNameTaken(details={"field": "name"})
    snapshot = await _pin_strategy(
        session, manager, principal.user_id, body.strategy_name, body.strategy_version
    )
    fields = body.model_dump(
        exclude={
            "exchange_key",
            "exchange_secret",
            "confirm_live_trading",
            "config",
            "strategy_version",
        }
    )
    bot = Bot(
        **fields,
        **_pinned_fields(snapshot),
        config=body.config,
        owner_id=principal.user_id,
        kind=BotKind.managed,
        status=BotStatus.stopped,
        desired_state=DesiredState.stopped,
        api_username="pending",
        api_password="",  # noqa: S106 - replaced by new_credentials() once the id is known
        restart_count=0,
        api_port=await manager.allocate_port(session),
    )
    # freqtrade checks the config before anything is stored or started.
    await _check_with_freqtrade(manager, bot, body.config)
    await _insert(session, bot)
    manager.new_credentials(bot)
    if body.exchange_key and body.exchange_secret:
        bot.exchange_key = manager.encrypt(
            bot.id, "exchange_key", body.exchange_key.get_secret_value()
        )
        bot.exchange_secret = manager.encrypt(
            bot.id, "exchange_secret", body.exchange_secret.get_secret_value()
        )
    await session.flush()
    audit.record(
        session,
        "bot.create",
        actor=principal,
        resource_type="bot",
        resource_id=bot.id,
        details={
            "name": bot.name,
            "strategy": bot.strategy_name,
            "strategy_version": bot.strategy_version,
            "exchange": bot.exchange,
            "dry_run": bot.dry_run,
        },
    )
    return to_read(bot)


async def create_external_bot(
    session: AsyncSession,
    principal: Principal,
    manager: BotManager,
    policy: OutboundPolicy,
    body: ExternalBotCreate,
) -> BotRead:
    if await BotRepository(session).name_taken(principal.user_id, body.name):
        raise BotNameTaken(details={"field": "name"})
    url = body.api_url.rstrip("/").removesuffix("/api/v1")
    await policy.check_url(url)
    password = body.password.get_secret_value()
    # Prove the address and credentials work before keeping them.
    async with FreqtradeClient(url, body.username, password, http=manager.guarded_http) as client:
        try:
            shown = await client.show_config()
        except BotApiError as exc:
            raise InvalidInput.field(
                "api_url", f"Cannot use that freqtrade API: {exc.message}", code="BOT_UNREACHABLE"
            ) from exc
    bot = Bot(
        name=body.name,
        description=body.description,
        owner_id=principal.user_id,
        kind=BotKind.external,
        strategy_name=(shown.strategy or "unknown")[:100],
        exchange=str((shown.model_extra or {}).get("exchange", "unknown"))[:50],
        stake_currency=(shown.stake_currency or "USDT")[:10],
        stake_amount=Decimal(0),
        max_open_trades=int((shown.model_extra or {}).get("max_open_trades") or 0),
        pairs=[],
        timeframe=(shown.timeframe or "5m")[:8],
        dry_run=bool(shown.dry_run),
        config={},
        status=BotStatus.running,
        desired_state=DesiredState.running,
        api_url=url,
        api_username=body.username,
        api_password="",  # noqa: S106 - set below, encrypted with the bot's id
        restart_count=0,
    )
    await _insert(session, bot)
    bot.api_password = manager.encrypt(bot.id, "api_password", password)
    await session.flush()
    audit.record(
        session,
        "bot.attach",
        actor=principal,
        resource_type="bot",
        resource_id=bot.id,
        details={"name": bot.name, "api_url": url},
    )
    return to_read(bot)


async def update_bot(
    session: AsyncSession, principal: Principal, manager: BotManager, bot_id: int, body: BotUpdate
) -> BotRead:
    bot = await _owned(session, principal, bot_id)
    changes = body.model_dump(exclude_unset=True, exclude={"confirm_live_trading"})
    if not changes:
        return to_read(bot)
    if bot.kind == BotKind.external and set(changes) - {"name", "description"}:
        raise NotManaged("Only the name and description of an external bot can change here.")
    if "name" in changes and await BotRepository(session).name_taken(
        bot.owner_id, changes["name"], other_than=bot.id
    ):
        raise BotNameTaken(details={"field": "name"})
    if changes.get("strategy_name", "") is None:
        del changes["strategy_name"]
    if "strategy_name" in changes or "strategy_version" in changes:
        snapshot = await _pin_strategy(
            session,
            manager,
            bot.owner_id,
            changes.get("strategy_name", bot.strategy_name),
            changes.pop("strategy_version", None),
        )
        changes |= _pinned_fields(snapshot)
    secrets_given = {k: changes.pop(k) for k in ("exchange_key", "exchange_secret") if k in changes}
    # The bot as it would be after the update, for the rules that span several fields.
    after = SimpleNamespace(
        pairs=changes.get("pairs", bot.pairs),
        dry_run=changes.get("dry_run", bot.dry_run),
        exchange=bot.exchange,
        stake_currency=bot.stake_currency,
        confirm_live_trading=body.confirm_live_trading,
        exchange_key=secrets_given.get("exchange_key") or bot.exchange_key,
        exchange_secret=secrets_given.get("exchange_secret") or bot.exchange_secret,
    )
    try:
        check_pairs_and_live(after)
    except ValueError as exc:
        raise InvalidInput(
            str(exc), details={"fields": [{"field": "body", "message": str(exc)}]}
        ) from exc
    for field, value in changes.items():
        setattr(bot, field, value)
    if bot.kind == BotKind.managed and set(changes) - {"name", "description"}:
        await _check_with_freqtrade(manager, bot, bot.config)
    for field, secret in secrets_given.items():
        setattr(bot, field, manager.encrypt(bot.id, field, secret.get_secret_value()))
    await session.flush()
    audit.record(
        session,
        "bot.update",
        actor=principal,
        resource_type="bot",
        resource_id=bot.id,
        details={"fields": sorted([*changes, *secrets_given])},
    )
    return to_read(bot)


async def delete_bot(
    session: AsyncSession, principal: Principal, manager: BotManager, bot_id: int
) -> None:
    """Ends the bot's process first (no orphan is ever left), then forgets the bot."""
    bot = await _owned(session, principal, bot_id)
    if bot.kind == BotKind.managed:
        await manager.end_process(bot)
    await BotRepository(session).delete(bot)
    audit.record(
        session,
        "bot.delete",
        actor=principal,
        resource_type="bot",
        resource_id=bot_id,
        details={"name": bot.name},
    )
    paths = manager.paths(bot_id)
    after_commit(session, lambda: manager.spawn_task(asyncio.to_thread(paths.remove)))


def _state(bot: Bot, status: BotStatus, desired: DesiredState) -> BotStateChange:
    return BotStateChange(id=bot.id, status=status, desired_state=desired)


def _managed(bot: Bot) -> None:
    if bot.kind != BotKind.managed:
        raise NotManaged()


async def start_bot(
    session: AsyncSession, principal: Principal, manager: BotManager, bot_id: int
) -> BotStateChange:
    bot = await _owned(session, principal, bot_id)
    _managed(bot)
    if bot.status in (BotStatus.running, BotStatus.starting):
        return BotStateChange(
            id=bot.id, status=BotStatus(bot.status), desired_state=DesiredState.running
        )
    if not await manager.claim_start(session, bot):
        raise BotBusy()
    audit.record(session, "bot.start", actor=principal, resource_type="bot", resource_id=bot.id)
    after_commit(session, lambda: manager.spawn_task(manager.launch(bot_id)))
    return _state(bot, BotStatus.starting, DesiredState.running)


async def stop_bot(
    session: AsyncSession, principal: Principal, manager: BotManager, bot_id: int
) -> BotStateChange:
    bot = await _owned(session, principal, bot_id)
    _managed(bot)
    if bot.status == BotStatus.stopped:
        bot.desired_state = DesiredState.stopped
        await session.flush()
        return BotStateChange(
            id=bot.id, status=BotStatus.stopped, desired_state=DesiredState.stopped
        )
    if bot.status == BotStatus.stopping:
        return BotStateChange(
            id=bot.id, status=BotStatus.stopping, desired_state=DesiredState.stopped
        )
    if not await manager.claim_stop(session, bot):
        raise BotBusy()
    audit.record(session, "bot.stop", actor=principal, resource_type="bot", resource_id=bot.id)
    after_commit(session, lambda: manager.spawn_task(manager.halt(bot_id)))
    return _state(bot, BotStatus.stopping, DesiredState.stopped)


async def restart_bot(
    session: AsyncSession, principal: Principal, manager: BotManager, bot_id: int
) -> BotStateChange:
    bot = await _owned(session, principal, bot_id)
    _managed(bot)
    if bot.status in (BotStatus.stopped, BotStatus.error):
        return await start_bot(session, principal, manager, bot_id)
    if not await manager.claim_stop(session, bot):
        raise BotBusy()
    await session.execute(
        update(Bot).where(Bot.id == bot_id).values(desired_state=DesiredState.running)
    )
    audit.record(session, "bot.restart", actor=principal, resource_type="bot", resource_id=bot.id)
    after_commit(session, lambda: manager.spawn_task(manager.restart(bot_id)))
    return _state(bot, BotStatus.stopping, DesiredState.running)


# --- configuration -----------------------------------------------------------------------------


async def get_config(
    session: AsyncSession, principal: Principal, manager: BotManager, bot_id: int
) -> BotConfigRead:
    bot = await _owned(session, principal, bot_id)
    if bot.kind == BotKind.external:
        shown = await _call(manager, bot, lambda c: c.show_config())
        return BotConfigRead(overrides={}, effective=shown.model_dump())
    effective = build_config(
        bot, manager.paths(bot.id), manager.exchange_block(bot.exchange), bot.config
    )
    return BotConfigRead(overrides=bot.config, effective=mask_secrets(effective))


async def put_config(
    session: AsyncSession,
    principal: Principal,
    manager: BotManager,
    bot_id: int,
    overrides: dict[str, Any],
) -> BotConfigRead:
    bot = await _owned(session, principal, bot_id)
    _managed(bot)
    await _check_with_freqtrade(manager, bot, overrides)
    bot.config = overrides
    await session.flush()
    audit.record(
        session,
        "bot.config",
        actor=principal,
        resource_type="bot",
        resource_id=bot.id,
        details={"keys": sorted(overrides)},
    )
    return await get_config(session, principal, manager, bot_id)


# --- the bot's own API ---------------------------------------------------------------------------


async def _call(manager: BotManager, bot: Bot, call: Any) -> Any:
    try:
        return await call(manager.client(bot))
    except BotApiError as exc:
        if exc.kind in ("unreachable", "timeout"):
            raise BotUnreachable(
                f"Bot '{bot.name}': {exc.message}", details={"kind": exc.kind}
            ) from exc
        raise BotRequestFailed(
            f"Bot '{bot.name}' answered: {exc.message}",
            details={"kind": exc.kind, "bot_status_code": exc.status_code},
        ) from exc


async def bot_call(
    session: AsyncSession, principal: Principal, manager: BotManager, bot_id: int, call: Any
) -> Any:
    """Read from a running bot's API."""
    bot = await _owned(session, principal, bot_id)
    if bot.kind == BotKind.managed and bot.status != BotStatus.running:
        raise BotNotRunning(details={"status": bot.status})
    return await _call(manager, bot, call)


async def bot_action(
    session: AsyncSession,
    principal: Principal,
    manager: BotManager,
    bot_id: int,
    action: str,
    call: Any,
    details: dict[str, Any] | None = None,
) -> Any:
    """A state-changing call on a running bot's API, audited."""
    result = await bot_call(session, principal, manager, bot_id, call)
    audit.record(
        session,
        f"bot.{action}",
        actor=principal,
        resource_type="bot",
        resource_id=bot_id,
        details=details or {},
    )
    return result


def _poke_collector(session: AsyncSession, manager: BotManager, bot_id: int) -> None:
    """A trade we forced shows in the feed at once, not at the next poll."""
    after_commit(session, lambda: manager.poke_collector(bot_id))


async def forceenter(
    session: AsyncSession, principal: Principal, manager: BotManager, bot_id: int, body: ForceEnter
) -> FreqtradeModel:
    result: FreqtradeModel = await bot_action(
        session,
        principal,
        manager,
        bot_id,
        "forceenter",
        lambda client: client.forceenter(body),
        body.model_dump(exclude_none=True),
    )
    _poke_collector(session, manager, bot_id)
    return result


async def forceexit(
    session: AsyncSession, principal: Principal, manager: BotManager, bot_id: int, body: ForceExit
) -> FreqtradeModel:
    result: FreqtradeModel = await bot_action(
        session,
        principal,
        manager,
        bot_id,
        "forceexit",
        lambda client: client.forceexit(body),
        body.model_dump(exclude_none=True),
    )
    _poke_collector(session, manager, bot_id)
    return result

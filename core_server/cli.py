"""The `multibot` command line."""

from __future__ import annotations

import asyncio
import getpass
from typing import Annotated

import typer
from pydantic import ValidationError

from core_server.auth.models import Role
from core_server.core.settings import InsecureSettingsError, get_settings

app = typer.Typer(help="Freqtrade Multi-Bot System.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=1)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8000,
    profile: Annotated[
        str | None, typer.Option(help="minimal, standard or full_featured (default: PROFILE).")
    ] = None,
    reload: Annotated[bool, typer.Option(help="Restart on code changes (development).")] = False,
) -> None:
    """Serve the API (and the dashboard) with uvicorn."""
    import uvicorn

    from core_server.core.app import create_application
    from core_server.core.logging import configure_logging

    settings = get_settings()
    configure_logging(settings.log_level)
    try:
        application = create_application(profile, settings)
    except (InsecureSettingsError, ValueError) as exc:
        raise _fail(str(exc)) from exc
    application.state.freeze_gc_after_startup = True
    uvicorn.run(
        application,
        host=host,
        port=port,
        log_config=None,
        proxy_headers=True,
        reload=reload,
        # Our WebSocket refuses client messages over 16 KiB; uvicorn need not buffer 16 MiB.
        ws_max_size=65536,
        # Our events are small JSON frames sent to many clients: compressing each one for each
        # client cost 45 % of the fan-out's CPU at 200 clients, for little saved.
        ws_per_message_deflate=False,
    )


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Apply the database migrations."""
    from core_server.core.database import upgrade_schema

    settings = get_settings()
    upgrade_schema(settings.resolved_database_url, revision)
    typer.echo(f"database at {revision}: {_safe_url(settings.resolved_database_url)}")


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@app.command("create-user")
def create_user(
    username: Annotated[str, typer.Argument(help="Login name.")],
    email: Annotated[str, typer.Option(help="E-mail address.")] = "",
    password: Annotated[
        str | None,
        typer.Option(help="Password; asked for when left out.", envvar="MULTIBOT_PASSWORD"),
    ] = None,
    admin: Annotated[bool, typer.Option("--admin", help="Give the user the admin role.")] = False,
    role: Annotated[Role, typer.Option(help="The role (--admin is the same as --role admin).")] = (
        Role.trader
    ),
) -> None:
    """Create a user (the way to make the first administrator on a closed install)."""
    from core_server.auth import service
    from core_server.auth.errors import UserExists
    from core_server.auth.schemas import AdminUserCreate
    from core_server.core.database import Database, upgrade_schema

    if password is None:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Repeat password: ") != password:
            raise _fail("the passwords differ")
    try:
        body = AdminUserCreate(
            username=username,
            email=email or f"{username}@localhost.localdomain",
            password=password,
            role=Role.admin if admin else role,
        )
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise _fail(problems) from exc

    settings = get_settings()
    upgrade_schema(settings.resolved_database_url)

    async def run() -> None:
        database = Database.from_settings(settings)
        try:
            async with database.transaction() as session:
                user = await service.create_user(session, None, body)
        finally:
            await database.dispose()
        typer.echo(f"created user {user.username} (id {user.id}, role {user.role.value})")

    try:
        asyncio.run(run())
    except UserExists as exc:
        raise _fail(exc.message) from exc


@app.command()
def simulator(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8100,
    seed: Annotated[int, typer.Option(help="Seed of the random market.", min=0)] = 42,
    pairs: Annotated[
        str | None, typer.Option(help="Comma-separated pairs (default: 8 USDT and 2 BTC pairs).")
    ] = None,
    replay_dir: Annotated[
        str | None, typer.Option(help="Directory of freqtrade OHLCV files to replay.")
    ] = None,
) -> None:
    """Serve the market simulator: Binance's public spot API for offline freqtrade bots."""
    import json

    import uvicorn

    from core_server.simulator import (
        ReplayError,
        SimulatorConfig,
        ccxt_overrides,
        create_simulator_app,
    )

    values: dict[str, object] = {"host": host, "port": port, "seed": seed}
    if pairs is not None:
        values["pairs"] = pairs
    if replay_dir is not None:
        values["replay_dir"] = replay_dir
    try:
        config = SimulatorConfig.model_validate(values)
        application = create_simulator_app(config)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise _fail(problems) from exc
    except ReplayError as exc:
        raise _fail(str(exc)) from exc
    typer.echo(f"market simulator on {config.base_url}, seed {config.seed}")
    typer.echo(f"freqtrade exchange config: {json.dumps(ccxt_overrides(config.base_url))}")
    uvicorn.run(application, host=host, port=port)


@app.command()
def worker(
    concurrency: Annotated[
        int | None,
        typer.Option(help="Jobs run at once (default: WORKER_CONCURRENCY).", min=1, max=64),
    ] = None,
) -> None:
    """Run backtest, hyperopt and download jobs from the Redis queue (needs REDIS_URL, the
    server's DATABASE_URL and its shared DATA_DIR); SIGTERM gives running jobs back."""
    import signal

    from core_server.backtests.queue import JobQueue
    from core_server.backtests.runtime import find_freqtrade
    from core_server.backtests.worker import JobWorker
    from core_server.core.database import Database, upgrade_schema
    from core_server.core.logging import configure_logging

    settings = get_settings()
    configure_logging(settings.log_level)
    if not settings.redis_url:
        raise _fail("REDIS_URL is not set: without Redis the server runs jobs itself (local pool)")
    if settings.auto_migrate:
        upgrade_schema(settings.resolved_database_url)

    async def run() -> None:
        database = Database.from_settings(settings)
        queue = JobQueue(settings)
        pool = JobWorker(
            settings, database, queue, find_freqtrade(settings), concurrency=concurrency
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await pool.start()
        typer.echo(f"worker {pool.worker_id} running {pool.concurrency} job(s) at once")
        try:
            await stop.wait()
        finally:
            await pool.stop()
            await asyncio.to_thread(queue.close)
            await database.dispose()

    asyncio.run(run())


def main() -> None:
    app()


if __name__ == "__main__":
    main()

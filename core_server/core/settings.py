"""One settings object for the whole server, read from the environment and `.env`."""

from __future__ import annotations

import os
import secrets
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


class Profile(StrEnum):
    """Which subsystems a server process starts (the seed's `create_application(profile)`)."""

    minimal = "minimal"
    standard = "standard"
    full_featured = "full_featured"


# Values copied from the seed's `.env.example`; a server must never run in production with them.
PLACEHOLDER_SECRETS = frozenset(
    {
        "",
        "changeme",
        "change-me",
        "secret",
        "your-secret-key-change-in-production",
        "your-jwt-secret-change-in-production",
    }
)
MIN_SECRET_LENGTH = 32


class InsecureSettingsError(RuntimeError):
    """Raised at start-up when a production server would run with a weak or default secret."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    environment: Environment = Environment.development
    profile: Profile = Profile.full_featured
    secret_key: SecretStr | None = None
    jwt_secret: SecretStr | None = None

    data_dir: Path = Path("./data")
    database_url: str | None = None
    redis_url: str | None = None
    # Prefix of every Redis key we write, so several installs can share one Redis.
    redis_prefix: str = Field("multibot", pattern=r"^[A-Za-z0-9:_-]{1,64}$")

    access_token_minutes: int = Field(15, ge=1, le=24 * 60)
    refresh_token_days: int = Field(30, ge=1, le=365)
    allow_registration: bool = False
    registration_default_role: str = Field("trader", pattern="^(trader|viewer)$")

    rate_limit_authenticated: int = Field(100, ge=1)
    rate_limit_anonymous: int = Field(10, ge=1)
    rate_limit_enabled: bool = True
    max_body_bytes: int = Field(1024 * 1024, ge=1024)

    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Hosts (CIDRs or names) the server may reach on a user's behalf besides public addresses;
    # loopback is listed so a laptop can attach its own local bots.
    outbound_allowlist: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["127.0.0.0/8", "::1/128"]
    )

    # The market simulator: served by this process on SIMULATOR_PORT unless SIMULATOR_URL
    # points at one that runs elsewhere (`multibot simulator`).
    simulator_enabled: bool = True
    simulator_host: str = "127.0.0.1"
    simulator_port: int = Field(8100, ge=1, le=65535)
    simulator_url: str | None = None
    simulator_seed: int = 42
    # Comma-separated pairs (default: the simulator's own list) and a folder of freqtrade OHLCV
    # files to replay instead of the random model.
    simulator_pairs: Annotated[list[str], NoDecode] = Field(default_factory=list)
    simulator_replay_dir: Path | None = None
    # Two dry-run bots on the simulator, created at first start so a newcomer sees a fleet.
    demo_fleet: bool = True
    log_level: str = "INFO"

    # The freqtrade executable; by default the one `make install` puts in .freqtrade/, else PATH.
    freqtrade_bin: Path | None = None
    # Managed bots listen on 127.0.0.1, each on its own port from this range.
    bot_port_range_start: int = Field(18100, ge=1024, le=65000)
    bot_port_range_end: int = Field(18999, ge=1024, le=65535)
    bot_start_timeout_seconds: float = Field(90.0, gt=0)
    bot_stop_timeout_seconds: float = Field(20.0, gt=0)
    bot_restart_limit: int = Field(5, ge=0)
    supervisor_interval_seconds: float = Field(2.0, gt=0)
    # How often each running bot's API is polled, and how many bots at once at most.
    collector_interval_seconds: float = Field(5.0, gt=0)
    collector_concurrency: int = Field(50, ge=1, le=1000)
    # A bot round that takes longer counts as a failure (the bot hangs); failures back off.
    collector_sync_timeout_seconds: float = Field(15.0, gt=0, le=300)
    # Apply database migrations when the server starts (`multibot db upgrade` does it by hand).
    auto_migrate: bool = True

    # Jobs (backtests, hyperopt, market data downloads). With REDIS_URL they go through Redis to
    # `multibot worker` processes; without it the server runs them itself on a local pool.
    # Candles are shared by every worker: DATA_DIR/market_data/<exchange> unless set here.
    market_data_dir: Path | None = None
    # Jobs one worker process (or the server's local pool) runs at once.
    worker_concurrency: int = Field(2, ge=1, le=64)
    # A running job's worker writes a heartbeat this often; a job whose heartbeat is older than
    # JOB_STALE_SECONDS is retried (or failed after JOB_MAX_ATTEMPTS runs) by the reaper.
    job_heartbeat_seconds: float = Field(2.0, gt=0)
    job_stale_seconds: float = Field(30.0, gt=0)
    job_reaper_interval_seconds: float = Field(5.0, gt=0)
    job_max_attempts: int = Field(3, ge=1, le=20)
    # A freqtrade command of a job that runs longer than this is ended and the job fails.
    job_time_limit_seconds: float = Field(6 * 3600.0, gt=0)
    # How long DELETE waits for a running job's freqtrade process to end.
    job_cancel_wait_seconds: float = Field(15.0, ge=0)

    # The seed's integrations; used by the features that need them.
    telegram_bot_token: SecretStr | None = None
    github_token: SecretStr | None = None
    smtp_server: str | None = None
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    grafana_admin_password: SecretStr | None = None

    @field_validator("cors_origins", "outbound_allowlist", "simulator_pairs", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @property
    def resolved_simulator_url(self) -> str:
        return (self.simulator_url or f"http://{self.simulator_host}:{self.simulator_port}").rstrip(
            "/"
        )

    @property
    def is_production(self) -> bool:
        return self.environment is Environment.production

    @property
    def resolved_database_url(self) -> str:
        """The async SQLAlchemy URL; plain `postgresql://` (as in the seed's .env) gets asyncpg."""
        url = self.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'multibot.db'}"
        for plain, driver in (
            ("postgresql://", "postgresql+asyncpg://"),
            ("postgres://", "postgresql+asyncpg://"),
            ("sqlite://", "sqlite+aiosqlite://"),
        ):
            if url.startswith(plain):
                return driver + url.removeprefix(plain)
        return url

    def check_secrets(self) -> None:
        """Refuse weak secrets in production, naming the variable to fix."""
        if not self.is_production:
            return
        for name, value in (("SECRET_KEY", self.secret_key), ("JWT_SECRET", self.jwt_secret)):
            raw = value.get_secret_value() if value else ""
            if raw.strip().lower() in PLACEHOLDER_SECRETS:
                raise InsecureSettingsError(
                    f"{name} is missing or still the example value; "
                    f"set {name} to a random string of at least {MIN_SECRET_LENGTH} characters "
                    "before starting with ENVIRONMENT=production."
                )
            if len(raw) < MIN_SECRET_LENGTH:
                raise InsecureSettingsError(
                    f"{name} is too short ({len(raw)} characters); "
                    f"use at least {MIN_SECRET_LENGTH} random characters in production."
                )

    def secret(self, name: str) -> str:
        """SECRET_KEY or JWT_SECRET; outside production a missing one is generated once and
        kept in DATA_DIR, so restarts keep sessions and encrypted data readable."""
        value = self.secret_key if name == "SECRET_KEY" else self.jwt_secret
        if value is not None and value.get_secret_value():
            return value.get_secret_value()
        self.check_secrets()
        path = self.data_dir / f".{name.lower()}"
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # Two processes may start at once: write aside, then link into place atomically so
        # exactly one value wins and nobody reads a half-written file.
        draft = path.with_name(f"{path.name}.{secrets.token_hex(4)}")
        draft.touch(mode=0o600)
        draft.write_text(secrets.token_urlsafe(48))
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
        return path.read_text().strip()


@lru_cache
def get_settings() -> Settings:
    return Settings()

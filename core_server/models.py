"""Every table, imported in one place so Alembic and the tests see the whole schema."""

from core_server.activity.models import Event
from core_server.audit.models import AuditEntry
from core_server.auth.models import ApiKey, AuthSession, RecoveryCode, RefreshToken, User
from core_server.backtests.models import Job, JobResult
from core_server.bots.models import Bot
from core_server.collector.models import EquitySnapshot, MirroredTrade
from core_server.core.database import Base
from core_server.risk.models import Alert, RiskRule
from core_server.strategies.models import Strategy, StrategySource, StrategyVersion

__all__ = [
    "Alert",
    "ApiKey",
    "AuditEntry",
    "AuthSession",
    "Base",
    "Bot",
    "EquitySnapshot",
    "Event",
    "Job",
    "JobResult",
    "MirroredTrade",
    "RecoveryCode",
    "RefreshToken",
    "RiskRule",
    "Strategy",
    "StrategySource",
    "StrategyVersion",
    "User",
]

"""Every table, imported in one place so Alembic and the tests see the whole schema."""

from core_server.audit.models import AuditEntry
from core_server.auth.models import ApiKey, AuthSession, RecoveryCode, RefreshToken, User
from core_server.bots.models import Bot
from core_server.core.database import Base
from core_server.strategies.models import Strategy

__all__ = [
    "ApiKey",
    "AuditEntry",
    "AuthSession",
    "Base",
    "Bot",
    "RecoveryCode",
    "RefreshToken",
    "Strategy",
    "User",
]

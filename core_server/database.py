"""The seed's import path: `from core_server.database import init_database`."""

from core_server.core.database import Base, Database, init_database

__all__ = ["Base", "Database", "init_database"]

"""Who is making a request, as every service sees it."""

from __future__ import annotations

from dataclasses import dataclass

from core_server.auth.models import ROLE_RANK, Role


@dataclass(frozen=True)
class Principal:
    user_id: int
    username: str
    # The effective role: an API key's scope can lower it, never raise it.
    role: Role
    session_id: str | None = None
    api_key_id: int | None = None

    @property
    def is_admin(self) -> bool:
        return self.role is Role.admin

    def has_role(self, needed: Role) -> bool:
        return ROLE_RANK[self.role] >= ROLE_RANK[needed]

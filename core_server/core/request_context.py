"""The id of the request being served, for log lines and error bodies."""

from __future__ import annotations

import contextvars

_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
_client_address: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "client_address", default=None
)


def current_request_id() -> str:
    return _request_id.get()


def current_client_address() -> str | None:
    return _client_address.get()


def bind_request(request_id: str, client_address: str | None) -> None:
    _request_id.set(request_id)
    _client_address.set(client_address)

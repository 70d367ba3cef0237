from __future__ import annotations

from core_server.core.errors import InvalidInput, RateLimited


class TooManyConnections(RateLimited):
    code = "TOO_MANY_CONNECTIONS"
    default_message = "You have too many WebSocket connections open; close one first."


class InvalidMessage(InvalidInput):
    code = "INVALID_MESSAGE"
    default_message = "The message is not valid."

from __future__ import annotations

from core_server.core.errors import Conflict, DomainError, InvalidInput, NotFound


class BotNotFound(NotFound):
    code = "BOT_NOT_FOUND"
    default_message = "No such bot."


class BotNameTaken(Conflict):
    code = "BOT_NAME_TAKEN"
    default_message = "You already have a bot with that name."


class BotNotRunning(Conflict):
    code = "BOT_NOT_RUNNING"
    default_message = "The bot is not running; start it first."


class BotBusy(Conflict):
    code = "BOT_BUSY"
    default_message = "The bot is changing state; try again in a moment."


class NotManaged(Conflict):
    code = "BOT_NOT_MANAGED"
    default_message = "This is an external bot: its process is not started or stopped here."


class InvalidBotConfig(InvalidInput):
    code = "INVALID_BOT_CONFIG"
    default_message = "freqtrade refused the bot's configuration."


class UnknownStrategy(InvalidInput):
    code = "UNKNOWN_STRATEGY"
    default_message = "No strategy of that name is in the library."


class BotUnreachable(DomainError):
    status_code = 503
    code = "BOT_UNREACHABLE"
    default_message = "The bot's API does not answer."


class BotRequestFailed(DomainError):
    status_code = 502
    code = "BOT_REQUEST_FAILED"
    default_message = "The bot refused the request."

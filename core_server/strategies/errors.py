from __future__ import annotations

from typing import Any

from core_server.core.errors import Conflict, DomainError, InvalidInput, NotFound


class StrategyNotFound(NotFound):
    code = "STRATEGY_NOT_FOUND"
    default_message = "No such strategy."

    @classmethod
    def named(cls, name: str) -> StrategyNotFound:
        """For callers that name a strategy (bots, backtests): says which field was wrong."""
        message = f"No strategy '{name}' in the library."
        return cls(message, details={"fields": [{"field": "strategy", "message": message}]})


class StrategyVersionNotFound(NotFound):
    code = "STRATEGY_VERSION_NOT_FOUND"
    default_message = "No such version of the strategy."

    @classmethod
    def of(cls, name: str, number: int, field: str = "strategy_version") -> StrategyVersionNotFound:
        message = f"Strategy '{name}' has no version {number}."
        return cls(message, details={"fields": [{"field": field, "message": message}]})


class StrategyNameTaken(Conflict):
    code = "STRATEGY_NAME_TAKEN"
    default_message = "You already have a strategy with that name."


class StrategyInUse(Conflict):
    code = "STRATEGY_IN_USE"
    default_message = "Bots run a version of this strategy; delete or switch them first."


class InvalidStrategy(InvalidInput):
    """The code does not load in freqtrade, or its class is not named like the strategy."""

    code = "INVALID_STRATEGY"
    default_message = "freqtrade cannot load the strategy."

    @classmethod
    def because(cls, reason: str, field: str = "code", **details: Any) -> InvalidStrategy:
        return cls(
            f"The strategy was refused: {reason}",
            details={"fields": [{"field": field, "message": reason}], **details},
        )


class TemplateNotFound(NotFound):
    code = "TEMPLATE_NOT_FOUND"
    default_message = "No such strategy template."


class SourceNotFound(NotFound):
    code = "STRATEGY_SOURCE_NOT_FOUND"
    default_message = "No such strategy source."


class SourceExists(Conflict):
    code = "STRATEGY_SOURCE_EXISTS"
    default_message = "You already import from that repository, branch and path; re-sync it."


class GitFailed(InvalidInput):
    code = "GIT_FAILED"
    default_message = "The repository could not be fetched."


class ValidatorUnavailable(DomainError):
    status_code = 503
    code = "FREQTRADE_UNAVAILABLE"
    default_message = (
        "freqtrade is not installed here, so strategies cannot be checked: run `make install` "
        "or set FREQTRADE_BIN."
    )

from __future__ import annotations

from core_server.core.errors import Conflict, DomainError, InvalidInput, NotFound


class JobNotFound(NotFound):
    code = "JOB_NOT_FOUND"
    default_message = "No such job."


class JobNotActive(Conflict):
    code = "JOB_NOT_ACTIVE"
    default_message = "The job has already finished."


class NotSavable(Conflict):
    code = "PARAMETERS_NOT_SAVABLE"
    default_message = "This job has no parameters to save as a strategy version."


class UnknownStrategy(InvalidInput):
    code = "UNKNOWN_STRATEGY"
    default_message = "No strategy of that name is in the library."


class FreqtradeNotInstalled(DomainError):
    status_code = 503
    code = "FREQTRADE_UNAVAILABLE"
    default_message = "freqtrade is not installed on this server: run `make install`."

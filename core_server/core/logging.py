"""Log lines that carry the request id, so a 500's id finds its traceback."""

from __future__ import annotations

import logging
import sys

from core_server.core.request_context import current_request_id

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [request_id=%(request_id)s] %(message)s"


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id()
        return True


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # Our access middleware logs each request with its id; uvicorn's own line would repeat it.
    logging.getLogger("uvicorn.access").disabled = True
    # One line per call to a bot would drown the log; failures surface through our own lines.
    logging.getLogger("httpx").setLevel(logging.WARNING)

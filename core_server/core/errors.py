"""Domain errors carry their HTTP status and code; one set of handlers renders every error."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from core_server.core.envelope import ErrorBody, ErrorEnvelope
from core_server.core.request_context import current_request_id

logger = logging.getLogger(__name__)


class DomainError(Exception):
    status_code: ClassVar[int] = 400
    code: str = "BAD_REQUEST"
    default_message: ClassVar[str] = "The request could not be processed."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.code = code or type(self).code
        self.message = message or self.default_message
        self.details = details or {}
        self.headers = headers
        super().__init__(self.message)


class NotFound(DomainError):
    status_code = 404
    code = "NOT_FOUND"
    default_message = "The resource was not found."


class Conflict(DomainError):
    status_code = 409
    code = "CONFLICT"
    default_message = "The request conflicts with the current state."


class Unauthorized(DomainError):
    status_code = 401
    code = "UNAUTHORIZED"
    default_message = "Authentication is required."

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(message, **kwargs)


class Forbidden(DomainError):
    status_code = 403
    code = "FORBIDDEN"
    default_message = "You are not allowed to do this."


class InvalidInput(DomainError):
    status_code = 422
    code = "VALIDATION_ERROR"
    default_message = "The request is not valid."

    @classmethod
    def field(cls, field: str, message: str, code: str | None = None) -> InvalidInput:
        return cls(message, code=code, details={"fields": [{"field": field, "message": message}]})


class RateLimited(DomainError):
    status_code = 429
    code = "RATE_LIMITED"
    default_message = "Too many requests; slow down and retry later."


class PayloadTooLarge(DomainError):
    status_code = 413
    code = "PAYLOAD_TOO_LARGE"
    default_message = "The request body is too large."


# Codes for errors raised by the framework rather than by our services.
HTTP_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "VALIDATION_ERROR",
    429: "RATE_LIMITED",
    500: "INTERNAL_ERROR",
    503: "SERVICE_UNAVAILABLE",
}


def error_response(
    status_code: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = ErrorEnvelope(error=ErrorBody(code=code, message=message, details=details or {}))
    return JSONResponse(body.model_dump(mode="json"), status_code=status_code, headers=headers)


def error_responses(*errors: type[DomainError]) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: the error envelope under each status the route can answer."""
    out: dict[int | str, dict[str, Any]] = {}
    for error in errors:
        entry = out.setdefault(error.status_code, {"model": ErrorEnvelope, "description": ""})
        entry["description"] = " / ".join(filter(None, [entry["description"], error.code]))
    return out


def field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    fields = []
    for error in exc.errors():
        location = [str(part) for part in error.get("loc", ())]
        # ("body", "password") -> "password"; keep the source for query and path parameters.
        if location and location[0] == "body":
            location = location[1:]
        fields.append(
            {
                "field": ".".join(location) or "body",
                "location": str(error.get("loc", ("body",))[0]),
                "message": error.get("msg", "invalid value"),
                "type": error.get("type", "value_error"),
            }
        )
    return fields


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(_: Request, exc: DomainError) -> JSONResponse:
        return error_response(exc.status_code, exc.code, exc.message, exc.details, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        fields = field_errors(exc)
        if any(field["type"] == "json_invalid" for field in fields):
            return error_response(
                422, "INVALID_JSON", "The request body is not valid JSON.", {"fields": fields}
            )
        names = ", ".join(field["field"] for field in fields)
        return error_response(
            422, "VALIDATION_ERROR", f"Invalid input: {names}.", {"fields": fields}
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = HTTP_CODES.get(exc.status_code, HTTPStatus(exc.status_code).name)
        message = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        if exc.status_code == 404 and message == "Not Found":
            message = f"No route for {request.method} {request.url.path}."
        return error_response(exc.status_code, code, message, headers=dict(exc.headers or {}))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        request_id = current_request_id()
        logger.exception(
            "unhandled error on %s %s (request_id=%s)",
            request.method,
            request.url.path,
            request_id,
        )
        return error_response(
            500,
            "INTERNAL_ERROR",
            "An internal error occurred; quote the request id when reporting it.",
            {"request_id": request_id},
            headers={"X-Request-ID": request_id},
        )

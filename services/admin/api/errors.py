"""How a refused admin request is answered: one JSON shape (`ErrorBody`), declared on every route,
and one place that maps the admin's domain errors and database outages to it (`AdminRoute`).

Texts never carry a token, a phone number or a message body (the errors' own messages do not).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, Final

import structlog
from fastapi import Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict
from pymongo.errors import PyMongoError
from starlette.exceptions import HTTPException

from services.admin.errors import (
    AdminError,
    BrokerUnavailable,
    Conflict,
    Forbidden,
    InvalidRequest,
    NotAuthenticated,
    NotFound,
    TooManyAttempts,
)

log = structlog.get_logger(__name__)

STATUS_OF: Final[tuple[tuple[type[AdminError], int], ...]] = (
    (NotAuthenticated, 401),
    (Forbidden, 403),
    (NotFound, 404),
    (Conflict, 409),
    (InvalidRequest, 422),
    (TooManyAttempts, 429),
    (BrokerUnavailable, 503),
)


class ProblemLocation(BaseModel):
    """Where a request was invalid and why (never the input itself)."""

    loc: list[str | int]
    msg: str | None
    type: str | None


class ErrorBody(BaseModel):
    """Every refusal: a machine-readable `error` and, except for 413, a `detail` saying why."""

    model_config = ConfigDict(extra="allow")

    error: str
    detail: str | list[ProblemLocation] | None = None


# Declared on every admin route, so the OpenAPI document says what a refusal looks like (and
# the schemathesis run in tests/integration/admin/test_schema_roles.py holds the answers to it).
ERROR_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    400: {"model": ErrorBody, "description": "The body is not parsable (not JSON, not UTF-8)"},
    401: {"model": ErrorBody, "description": "No valid API token (or bootstrap token)"},
    403: {"model": ErrorBody, "description": "The token lacks the route's role"},
    404: {"model": ErrorBody, "description": "No such user, token, alert, queue or request"},
    409: {"model": ErrorBody, "description": "The state does not allow it (already done …)"},
    413: {"model": ErrorBody, "description": "Body over the size limit"},
    422: {"model": ErrorBody, "description": "Invalid input: where and why, never the input"},
    429: {"model": ErrorBody, "description": "Too many failed attempts from this client"},
    503: {"model": ErrorBody, "description": "Database or broker unavailable: retry"},
}


def _error(status: int, error: str, detail: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"error": error, "detail": detail}, status_code=status, headers=headers)


def error_response(error: AdminError) -> Response:
    status = next((code for kind, code in STATUS_OF if isinstance(error, kind)), 400)
    headers: dict[str, str] = {}
    if isinstance(error, NotAuthenticated):
        headers["WWW-Authenticate"] = 'Bearer realm="givecare-admin"'
    if isinstance(error, TooManyAttempts):
        headers["Retry-After"] = str(error.retry_after_seconds)
    return _error(status, error.code, str(error), headers)


class AdminRoute(APIRoute):
    """Maps admin errors (from dependencies too) and database outages to JSON answers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def run(request: Request) -> Response:
            try:
                return await handle(request)
            except AdminError as error:
                return error_response(error)
            except HTTPException as error:
                # FastAPI's refusal of a body that is not JSON at all, in the same shape as the
                # others; anything else (ingress's 413) goes to the app's own handlers.
                if error.status_code != 400:
                    raise
                return _error(400, "bad_request", str(error.detail))
            except PyMongoError as error:
                log.error("admin request failed: database unavailable", error=type(error).__name__)
                return _error(503, "database_unavailable", "the database did not answer; retry")

        return run

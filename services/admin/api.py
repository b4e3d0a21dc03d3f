"""The admin HTTP API, an `APIRouter` that ingress serves under `/admin`.

Routes are thin: authenticate (`Authorization: Bearer <token>`), check the role the route
declares, call `AdminReads`/`AdminActions` — the same functions the CLI calls — and return JSON.
Each route declares its role through its dependency (`Authorized(Role.…)` or `BootstrapGate`), so
a test can enumerate them. Domain errors become HTTP answers in one place (`AdminRoute`).
"""

# No `from __future__ import annotations`: the routes' annotations name dependencies built
# inside `admin_router`, which FastAPI can only see when annotations are evaluated in place.

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Annotated, Any, Final

import structlog
from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field
from pymongo.errors import PyMongoError
from starlette.exceptions import HTTPException

from services.admin.auth import Actor, Role, require
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
from services.admin.settings import MAX_PAGE_ROWS
from services.admin.state_metrics import admin_probes
from services.admin.wiring import AdminConfig, AdminServices
from shared.clock import Clock
from shared.state_metrics import refresh_periodically

log = structlog.get_logger(__name__)

_STATUS: Final[tuple[tuple[type[AdminError], int], ...]] = (
    (NotAuthenticated, 401),
    (Forbidden, 403),
    (NotFound, 404),
    (Conflict, 409),
    (InvalidRequest, 422),
    (TooManyAttempts, 429),
    (BrokerUnavailable, 503),
)
ROLE_EXTENSION: Final = "x-required-role"
BOOTSTRAP: Final = "bootstrap"


def _error(status: int, error: str, detail: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"error": error, "detail": detail}, status_code=status, headers=headers)


def error_response(error: AdminError) -> Response:
    status = next((code for kind, code in _STATUS if isinstance(error, kind)), 400)
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


def client_of(request: Request) -> str:
    """Who is calling, for the failed-login limit: the client address as the app sees it. Behind
    trusted proxies (INGRESS_FORWARDED_ALLOW_IPS) uvicorn's ProxyHeadersMiddleware has set it to
    the rightmost X-Forwarded-For address no trusted proxy added; a header from anyone else is
    ignored, so a caller cannot choose its own throttling key."""
    return request.client.host if request.client else "unknown"


class Authorized:
    """The dependency that authenticates a request and requires `role` of it."""

    def __init__(self, services: AdminServices, role: Role) -> None:
        self.services = services
        self.role = role

    async def __call__(self, request: Request) -> Actor:
        actor = await self.services.auth.authenticate(
            request.headers.get("authorization"), client_of(request)
        )
        require(actor, self.role)
        return actor


class BootstrapGate:
    """The bootstrap route's dependency: the bootstrap token and nothing else."""

    role = BOOTSTRAP

    def __init__(self, services: AdminServices) -> None:
        self.services = services

    async def __call__(self, request: Request) -> None:
        await self.services.auth.check_bootstrap(
            request.headers.get("authorization"), client_of(request)
        )


# --- request bodies and parameters: every one bounded ---------------------------------------------

# The most rows one request may ask for or name (ADMIN_MAX_LIST_LIMIT may lower it further).
MAX_ROWS: Final = MAX_PAGE_ROWS
MAX_SMS_CHARS: Final = 1_600
# ADMIN_TOKEN_TTL_DAYS's own ceiling.
MAX_TTL_DAYS: Final = 3_650
MessageId = Annotated[str, Field(min_length=1, max_length=256)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BootstrapRequest(_Body):
    phone: str = Field(min_length=1, max_length=32, description="E.164 phone of the first admin")
    token_name: str | None = Field(None, max_length=100)


class TokenRequest(_Body):
    user: str = Field(
        min_length=1,
        max_length=64,
        description="the operator: E.164 phone, operator id, or the SMS worker's user id",
    )
    roles: list[Role] | None = Field(
        None, max_length=8, description="default: every role the operator holds"
    )
    # Finite and bounded: `Infinity` or 1e308 days is no lifetime a date can hold (422, not 500).
    ttl_days: float | None = Field(
        None,
        gt=0,
        le=MAX_TTL_DAYS,
        allow_inf_nan=False,
        description="default and maximum: ADMIN_TOKEN_TTL_DAYS",
    )
    name: str | None = Field(None, max_length=100)


class MessageRequest(_Body):
    # SMS_MAX_BODY_CHARS's own ceiling (Twilio's): a longer text could never be sent.
    body: str = Field(min_length=1, max_length=MAX_SMS_CHARS)
    request_id: str | None = Field(
        None, max_length=128, description="repeat it to retry without sending twice"
    )


class ReplayRequest(_Body):
    message_ids: list[MessageId] | None = Field(
        None, max_length=MAX_ROWS, description="default: every parked event"
    )
    limit: int = Field(100, ge=1, le=MAX_ROWS)


class DiscardRequest(_Body):
    message_ids: list[MessageId] | None = Field(None, max_length=MAX_ROWS)
    all: bool = Field(False, description="discard every parked event (up to limit)")
    limit: int = Field(100, ge=1, le=MAX_ROWS)


class AcknowledgeRequest(_Body):
    note: str | None = Field(None, max_length=500)


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
    404: {"model": ErrorBody, "description": "No such user, token, alert or queue"},
    409: {"model": ErrorBody, "description": "The state does not allow it (already done …)"},
    413: {"model": ErrorBody, "description": "Body over the size limit"},
    422: {"model": ErrorBody, "description": "Invalid input: where and why, never the input"},
    429: {"model": ErrorBody, "description": "Too many failed attempts from this client"},
    503: {"model": ErrorBody, "description": "Database or broker unavailable: retry"},
}


# --- the router -----------------------------------------------------------------------------------

Limit = Annotated[int, Query(ge=1, le=MAX_ROWS, description="at most ADMIN_MAX_LIST_LIMIT rows")]
# Path and query strings: a user reference (id or E.164 phone), a token id, a queue, a send's
# idempotency key, an alert id, a filter. Long enough for every real one.
UserRef = Annotated[str, Path(min_length=1, max_length=64)]
Ref = Annotated[str, Path(min_length=1, max_length=256)]
Filter = Annotated[str | None, Query(max_length=256)]


def admin_router(config: AdminConfig, clock: Clock) -> APIRouter:
    """Build the router; its lifespan applies indexes, runs the admin's outbox relay and keeps
    the system's gauges fresh (`services.admin.state_metrics`)."""
    services = AdminServices(config, clock, app_name="ingress-admin")

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        try:
            await services.prepare()
        except PyMongoError as error:
            # Like ingress: serve anyway (requests answer 503 until the database is back).
            log.warning(
                "admin indexes not applied: database unavailable", error=type(error).__name__
            )
        tasks = [
            asyncio.create_task(services.relay.run(stop)),
            asyncio.create_task(refresh_periodically(admin_probes(services), stop)),
        ]
        try:
            yield
        finally:
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            await services.close()

    router = APIRouter(
        route_class=AdminRoute, lifespan=lifespan, tags=["admin"], responses=ERROR_RESPONSES
    )
    reader = Annotated[Actor, Depends(Authorized(services, Role.SUPPORT))]
    writer = Annotated[Actor, Depends(Authorized(services, Role.ADMIN))]
    gate = Depends(BootstrapGate(services))
    reads, actions = services.reads, services.actions
    max_limit = config.admin.max_list_limit

    def limited(limit: int) -> int:
        return min(limit, max_limit)

    # --- the first admin and tokens ---------------------------------------------------------------

    @router.post("/bootstrap", dependencies=[gate], status_code=201)
    async def bootstrap(request: BootstrapRequest) -> dict[str, Any]:
        """With the bootstrap token (ADMIN_BOOTSTRAP_TOKEN): make the first admin and their
        token, shown once. Refused (409) once an admin exists."""
        return await actions.bootstrap_first_admin(request.phone, token_name=request.token_name)

    @router.get("/me")
    async def me(actor: reader) -> dict[str, Any]:
        """Who this token is (its id and its operator's) and what it may do."""
        return actor.as_document()

    @router.get("/tokens")
    async def tokens(
        actor: writer, operator_id: Filter = None, limit: Limit = 100
    ) -> list[dict[str, Any]]:
        """API tokens (never their hashes), newest first; `operator_id` narrows to one owner."""
        return await reads.tokens(actor, operator_id=operator_id, limit=limited(limit))

    @router.post("/tokens", status_code=201)
    async def create_token(actor: writer, request: TokenRequest) -> dict[str, Any]:
        """Mint a token for an operator; the token is in this answer and nowhere else."""
        return await actions.create_token(
            actor, request.user, roles=request.roles, ttl_days=request.ttl_days, name=request.name
        )

    @router.post("/tokens/{token_id}/revoke")
    async def revoke_token(actor: writer, token_id: Ref) -> dict[str, Any]:
        return await actions.revoke_token(actor, token_id)

    # --- reads ------------------------------------------------------------------------------------

    @router.get("/metrics")
    async def metrics(actor: reader) -> dict[str, Any]:
        """Users by phase and band, activity, messages today, crisis alerts, sends by status,
        queue depths and parked events."""
        return await reads.metrics(actor)

    @router.get("/users/{user_ref}")
    async def user(actor: reader, user_ref: UserRef) -> dict[str, Any]:
        """A user by id or E.164 phone: profile, conversation, billing, last messages, and the
        roles of that phone's operator."""
        return await reads.user(actor, user_ref)

    @router.get("/crisis-alerts")
    async def crisis_alerts(
        actor: reader, status: Filter = None, limit: Limit = 50
    ) -> list[dict[str, Any]]:
        return await reads.crisis_alerts(actor, status=status, limit=limited(limit))

    @router.get("/outbound/failed")
    async def failed_outbound(actor: reader, limit: Limit = 50) -> list[dict[str, Any]]:
        return await reads.failed_outbound(actor, limit=limited(limit))

    @router.get("/migrations")
    async def migrations(actor: reader) -> list[dict[str, Any]]:
        return await reads.migrations(actor)

    @router.get("/dlq/{queue}")
    async def parked(actor: reader, queue: Ref, limit: Limit = 100) -> list[dict[str, Any]]:
        """Metadata of the events parked in `<queue>.dlq` (never bodies)."""
        return await reads.parked(actor, queue, limit=limited(limit))

    @router.get("/audit")
    async def audit(
        actor: writer, target: Filter = None, limit: Limit = 100
    ) -> list[dict[str, Any]]:
        """The audit log, newest first; `target` narrows it to one user, token, queue …"""
        return await reads.audit(actor, target=target, limit=limited(limit))

    # --- writes -----------------------------------------------------------------------------------

    @router.post("/users/{user_ref}/roles/{role}")
    async def grant_role(actor: writer, user_ref: UserRef, role: Role) -> dict[str, Any]:
        """Grant a role to the operator with that phone (created if new; they need never have
        texted us), operator id, or SMS-worker user id."""
        return await actions.grant_role(actor, user_ref, role)

    @router.delete("/users/{user_ref}/roles/{role}")
    async def revoke_role(actor: writer, user_ref: UserRef, role: Role) -> dict[str, Any]:
        """Take a role from an operator; the last admin keeps theirs."""
        return await actions.revoke_role(actor, user_ref, role)

    @router.post("/users/{user_ref}/messages", status_code=202)
    async def send_message(
        actor: writer, user_ref: UserRef, request: MessageRequest
    ) -> dict[str, Any]:
        """Text the user through the normal outbound path; 409 if they opted out."""
        return await actions.send_message(
            actor, user_ref, request.body, request_id=request.request_id
        )

    @router.post("/outbound/{key:path}/retry", status_code=202)
    async def retry_outbound(actor: writer, key: Ref) -> dict[str, Any]:
        """Request a failed send again through the normal path (see docs/admin.md)."""
        return await actions.retry_outbound(actor, key)

    @router.post("/crisis-alerts/{alert_id}/acknowledge", status_code=202)
    async def acknowledge_alert(
        actor: writer, alert_id: Ref, request: AcknowledgeRequest | None = None
    ) -> dict[str, Any]:
        """Ask the SMS worker to mark an open alert acknowledged (once; 409 afterwards)."""
        note = request.note if request is not None else None
        return await actions.acknowledge_alert(actor, alert_id, note=note)

    @router.post("/dlq/{queue}/replay")
    async def replay(actor: writer, queue: Ref, request: ReplayRequest) -> dict[str, Any]:
        return await actions.replay_parked(
            actor, queue, message_ids=request.message_ids, limit=limited(request.limit)
        )

    @router.post("/dlq/{queue}/discard")
    async def discard(actor: writer, queue: Ref, request: DiscardRequest) -> dict[str, Any]:
        return await actions.discard_parked(
            actor,
            queue,
            message_ids=request.message_ids,
            everything=request.all,
            limit=limited(request.limit),
        )

    for route in router.routes:
        if isinstance(route, APIRoute):
            route.openapi_extra = {**(route.openapi_extra or {}), ROLE_EXTENSION: _role_of(route)}
    return router


def _role_of(route: APIRoute) -> str:
    """The role a route's dependency requires (documented in OpenAPI as `x-required-role`)."""
    for dependency in route.dependant.dependencies:
        call = dependency.call
        if isinstance(call, Authorized):
            return call.role.value
        if isinstance(call, BootstrapGate):
            return BOOTSTRAP
    raise RuntimeError(f"admin route {route.path} declares no role")

"""The admin HTTP API, which ingress serves under `/admin` (`mount_admin`).

One router per resource, each in its own module (`tokens.py`, `users.py`, `dlq.py` …); routes are
thin: the caller and the role come from their dependencies (`deps.py`), the work from
`AdminReads`/`AdminActions` — the same functions the CLI calls — and every answer is a typed model
of `services/admin/schemas.py`. Refusals are mapped in one place (`errors.py`). Each route's role
is published in the OpenAPI document as `x-required-role`, so a test can enumerate them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from typing import Final

import structlog
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from pymongo.errors import PyMongoError

from services.admin.api import (
    alerts,
    audit,
    billing,
    bootstrap,
    dlq,
    metrics,
    migrations,
    outbound,
    tokens,
    users,
)
from services.admin.api.deps import BOOTSTRAP, Authorized, BootstrapGate
from services.admin.api.errors import ERROR_RESPONSES
from services.admin.state_metrics import admin_probes
from services.admin.wiring import AdminConfig, AdminServices
from shared.clock import Clock
from shared.state_metrics import refresh_periodically

__all__ = ["BOOTSTRAP", "ROLE_EXTENSION", "mount_admin"]

log = structlog.get_logger(__name__)

ROLE_EXTENSION: Final = "x-required-role"
PREFIX: Final = "/admin"
_RESOURCES: Final = (
    bootstrap,
    tokens,
    metrics,
    users,
    alerts,
    outbound,
    migrations,
    dlq,
    billing,
    audit,
)


def mount_admin(app: FastAPI, config: AdminConfig, clock: Clock) -> None:
    """Serve the admin API from `app` under `/admin`. Its services are built here (the database
    and the broker connect lazily) and kept in `app.state.admin`; the app's lifespan then applies
    the admin's indexes, runs its outbox relay and keeps the system's gauges fresh."""
    services = AdminServices(config, clock, app_name="ingress-admin")
    app.state.admin = services
    router = APIRouter(lifespan=_lifespan(services), responses=ERROR_RESPONSES)
    for resource in _RESOURCES:
        router.include_router(resource.router)
    for route in _routes(router):
        route.openapi_extra = {**(route.openapi_extra or {}), ROLE_EXTENSION: _role_of(route)}
    app.include_router(router, prefix=PREFIX)


def _routes(router: APIRouter) -> Iterator[APIRoute]:
    """The router's routes and those of the routers it includes (FastAPI keeps an included
    router's own route objects behind a wrapper, `original_router`)."""
    for route in router.routes:
        if isinstance(route, APIRoute):
            yield route
        included = getattr(route, "original_router", None)
        if isinstance(included, APIRouter):
            yield from _routes(included)


def _lifespan(
    services: AdminServices,
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
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

    return lifespan


def _role_of(route: APIRoute) -> str:
    """The role a route's dependency requires (documented in OpenAPI as `x-required-role`)."""
    for dependency in route.dependant.dependencies:
        call = dependency.call
        if isinstance(call, Authorized):
            return call.role.value
        if isinstance(call, BootstrapGate):
            return BOOTSTRAP
    raise RuntimeError(f"admin route {route.path} declares no role")

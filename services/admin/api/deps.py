"""What admin routes depend on, as `Annotated` types: the admin's services, the caller (an API
token through the `ApiToken` bearer scheme, with the role the route requires), the bootstrap
token (its own `BootstrapToken` scheme) and the bounded path and query parameters.

Both schemes are FastAPI `HTTPBearer`s, so the OpenAPI document declares them and which route
takes which. They do not refuse by themselves (`auto_error=False`): the `Authenticator` does,
so a missing, unknown or throttled credential gets the admin's own JSON answer.
"""

# No `from __future__ import annotations`: FastAPI reads the dependencies' signatures at runtime.

from typing import Annotated, Final

from fastapi import Depends, Path, Query, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.admin.auth import Actor, Role, require
from services.admin.schemas import MAX_ROWS
from services.admin.wiring import AdminServices

BOOTSTRAP: Final = "bootstrap"

API_TOKEN: Final = HTTPBearer(
    scheme_name="ApiToken",
    bearerFormat="gca_<id>_<secret>",
    description="An API token (`POST /admin/tokens`, `givecare admin token create`).",
    auto_error=False,
)
BOOTSTRAP_TOKEN: Final = HTTPBearer(
    scheme_name="BootstrapToken",
    description="ADMIN_BOOTSTRAP_TOKEN: accepted by `POST /admin/bootstrap` only, once.",
    auto_error=False,
)
Credentials = HTTPAuthorizationCredentials | None


async def _services(request: Request) -> AdminServices:
    # async: FastAPI runs plain-function dependencies in a thread pool, a cost on every request.
    services: AdminServices = request.app.state.admin
    return services


AdminDep = Annotated[AdminServices, Depends(_services)]


def client_of(request: Request) -> str:
    """Who is calling, for the failed-login limit: the client address as the app sees it. Behind
    trusted proxies (INGRESS_FORWARDED_ALLOW_IPS) uvicorn's ProxyHeadersMiddleware has set it to
    the rightmost X-Forwarded-For address no trusted proxy added; a header from anyone else is
    ignored, so a caller cannot choose its own throttling key."""
    return request.client.host if request.client else "unknown"


def _presented(credentials: Credentials) -> str | None:
    return credentials.credentials if credentials is not None else None


class Authorized:
    """The dependency that authenticates a request's API token and requires `role` of it."""

    def __init__(self, role: Role) -> None:
        self.role = role

    async def __call__(
        self,
        request: Request,
        admin: AdminDep,
        credentials: Annotated[Credentials, Security(API_TOKEN)],
    ) -> Actor:
        actor = await admin.auth.authenticate(_presented(credentials), client_of(request))
        require(actor, self.role)
        return actor


class BootstrapGate:
    """The bootstrap route's dependency: the bootstrap token and nothing else."""

    role = BOOTSTRAP

    async def __call__(
        self,
        request: Request,
        admin: AdminDep,
        credentials: Annotated[Credentials, Security(BOOTSTRAP_TOKEN)],
    ) -> None:
        await admin.auth.check_bootstrap(_presented(credentials), client_of(request))


# One instance per role: every route that needs the role depends on the same callable.
SUPPORT_ROLE: Final = Authorized(Role.SUPPORT)
ADMIN_ROLE: Final = Authorized(Role.ADMIN)
BOOTSTRAP_GATE: Final = BootstrapGate()

SupportCaller = Annotated[Actor, Depends(SUPPORT_ROLE)]
AdminCaller = Annotated[Actor, Depends(ADMIN_ROLE)]

# Path and query strings: a user reference (id or E.164 phone), a token id, a queue, a send's
# idempotency key, an alert id, a filter. Long enough for every real one.
Limit = Annotated[int, Query(ge=1, le=MAX_ROWS, description="at most ADMIN_MAX_LIST_LIMIT rows")]
UserRef = Annotated[str, Path(min_length=1, max_length=64)]
Ref = Annotated[str, Path(min_length=1, max_length=256)]
Filter = Annotated[str | None, Query(max_length=256)]

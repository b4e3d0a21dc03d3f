"""`POST /admin/bootstrap`: the first admin, made once with the deployment's bootstrap token."""

# No `from __future__ import annotations`: FastAPI reads the routes' signatures at runtime.

from fastapi import APIRouter, Depends

from services.admin.api.deps import BOOTSTRAP_GATE, AdminDep
from services.admin.api.errors import AdminRoute
from services.admin.schemas import BootstrapRequest, NewToken

router = APIRouter(tags=["bootstrap"], route_class=AdminRoute)


@router.post("/bootstrap", dependencies=[Depends(BOOTSTRAP_GATE)], status_code=201)
async def bootstrap(admin: AdminDep, request: BootstrapRequest) -> NewToken:
    """With the bootstrap token (ADMIN_BOOTSTRAP_TOKEN): make the first admin and their token,
    shown once. Refused (409) once an admin exists."""
    return await admin.actions.bootstrap_first_admin(request.phone, token_name=request.token_name)

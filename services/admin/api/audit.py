"""`/admin/audit`: the append-only log of every admin write."""

# No `from __future__ import annotations`: FastAPI reads the routes' signatures at runtime.

from fastapi import APIRouter

from services.admin.api.deps import AdminCaller, AdminDep, Filter, Limit
from services.admin.api.errors import AdminRoute
from services.admin.schemas import AuditRecord

router = APIRouter(tags=["audit"], route_class=AdminRoute)


@router.get("/audit")
async def audit(
    actor: AdminCaller, admin: AdminDep, target: Filter = None, limit: Limit = 100
) -> list[AuditRecord]:
    """The audit log, newest first; `target` narrows it to one user, token, queue …"""
    return await admin.reads.audit(actor, target=target, limit=admin.page(limit))

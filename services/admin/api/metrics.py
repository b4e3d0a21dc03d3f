"""`/admin/metrics`: the system at a glance."""

# No `from __future__ import annotations`: FastAPI reads the routes' signatures at runtime.

from fastapi import APIRouter

from services.admin.api.deps import AdminDep, SupportCaller
from services.admin.api.errors import AdminRoute
from services.admin.schemas import Metrics

router = APIRouter(tags=["metrics"], route_class=AdminRoute)


@router.get("/metrics")
async def metrics(actor: SupportCaller, admin: AdminDep) -> Metrics:
    """Users by phase and band, activity, messages today, crisis alerts, sends by status,
    queue depths and parked events."""
    return await admin.reads.metrics(actor)

"""`/admin/migrations`: the data migrations' progress, read-only (they run as a Job, with the
migration runner's own database access: docs/migrations.md)."""

# No `from __future__ import annotations`: FastAPI reads the routes' signatures at runtime.

from fastapi import APIRouter

from services.admin.api.deps import AdminDep, SupportCaller
from services.admin.api.errors import AdminRoute
from services.admin.schemas import MigrationProgress

router = APIRouter(tags=["migrations"], route_class=AdminRoute)


@router.get("/migrations")
async def migrations(actor: SupportCaller, admin: AdminDep) -> list[MigrationProgress]:
    """Every migration's progress record (no error samples)."""
    return await admin.reads.migrations(actor)

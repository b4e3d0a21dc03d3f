"""`/admin/outbound`: sends that did not reach the recipient, and asking for one again."""

# No `from __future__ import annotations`: FastAPI reads the routes' signatures at runtime.

from fastapi import APIRouter

from services.admin.api.deps import AdminCaller, AdminDep, Limit, Ref, SupportCaller
from services.admin.api.errors import AdminRoute
from services.admin.schemas import FailedSend, FailedSendView, MaskedFailedSend, RetryRequested

router = APIRouter(prefix="/outbound", tags=["outbound"], route_class=AdminRoute)


@router.get("/failed", response_model=list[FailedSendView])
async def failed_outbound(
    actor: SupportCaller, admin: AdminDep, limit: Limit = 50
) -> list[FailedSend] | list[MaskedFailedSend]:
    """Failed, permanently failed and undelivered sends, newest first, with `retryable`: in
    full for admins, masked for support (`view`)."""
    return await admin.reads.failed_outbound(actor, limit=admin.page(limit))


@router.post("/{key:path}/retry", status_code=202)
async def retry_outbound(actor: AdminCaller, admin: AdminDep, key: Ref) -> RetryRequested:
    """Request a failed send again through the normal path (see docs/admin.md)."""
    return await admin.actions.retry_outbound(actor, key)

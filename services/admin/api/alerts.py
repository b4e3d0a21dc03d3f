"""`/admin/crisis-alerts`: the SMS worker's crisis alerts, and asking it to acknowledge one."""

# No `from __future__ import annotations`: FastAPI reads the routes' signatures at runtime.

from fastapi import APIRouter

from services.admin.api.deps import AdminCaller, AdminDep, Filter, Limit, Ref, SupportCaller
from services.admin.api.errors import AdminRoute
from services.admin.schemas import AcknowledgementRequested, AcknowledgeRequest, AlertSummary

router = APIRouter(prefix="/crisis-alerts", tags=["crisis alerts"], route_class=AdminRoute)


@router.get("")
async def crisis_alerts(
    actor: SupportCaller, admin: AdminDep, status: Filter = None, limit: Limit = 50
) -> list[AlertSummary]:
    """Alerts, newest first; `status` (open, acknowledged) narrows them."""
    return await admin.reads.crisis_alerts(actor, status=status, limit=admin.page(limit))


@router.post("/{alert_id}/acknowledge", status_code=202)
async def acknowledge_alert(
    actor: AdminCaller, admin: AdminDep, alert_id: Ref, request: AcknowledgeRequest | None = None
) -> AcknowledgementRequested:
    """Ask the SMS worker to mark an open alert acknowledged (once; 409 afterwards)."""
    note = request.note if request is not None else None
    return await admin.actions.acknowledge_alert(actor, alert_id, note=note)

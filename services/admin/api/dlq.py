"""`/admin/dlq/{queue}`: events parked in a consumer queue's `.dlq` — listed (metadata only),
replayed to the work queue or discarded."""

# No `from __future__ import annotations`: FastAPI reads the routes' signatures at runtime.

from fastapi import APIRouter

from services.admin.api.deps import AdminCaller, AdminDep, Limit, Ref, SupportCaller
from services.admin.api.errors import AdminRoute
from services.admin.schemas import Discarded, DiscardRequest, Replayed, ReplayRequest
from shared.broker.parking import ParkedEvent

router = APIRouter(prefix="/dlq", tags=["parked events"], route_class=AdminRoute)


@router.get("/{queue}")
async def parked(
    actor: SupportCaller, admin: AdminDep, queue: Ref, limit: Limit = 100
) -> list[ParkedEvent]:
    """Metadata of the events parked in `<queue>.dlq` (never bodies)."""
    return await admin.reads.parked(actor, queue, limit=admin.page(limit))


@router.post("/{queue}/replay")
async def replay(
    actor: AdminCaller, admin: AdminDep, queue: Ref, request: ReplayRequest
) -> Replayed:
    """Move parked events (all of the first `limit`, or the ids) back to the work queue."""
    return await admin.actions.replay_parked(
        actor, queue, message_ids=request.message_ids, limit=admin.page(request.limit)
    )


@router.post("/{queue}/discard")
async def discard(
    actor: AdminCaller, admin: AdminDep, queue: Ref, request: DiscardRequest
) -> Discarded:
    """Delete parked events for good: the ids given, or `all` of the first `limit`."""
    return await admin.actions.discard_parked(
        actor,
        queue,
        message_ids=request.message_ids,
        everything=request.all,
        limit=admin.page(request.limit),
    )

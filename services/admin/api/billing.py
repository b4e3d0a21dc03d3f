"""`/admin/billing`: asking billing — which alone holds the Stripe key — to reconcile a window of
missed Stripe events or to create a Checkout link, and reading what became of the request.

The writes answer 202 at once with the request (`status: requested`); the billing worker does
the work from its queue and records the outcome, which `GET /billing/requests/{id}` shows.
"""

# No `from __future__ import annotations`: FastAPI reads the routes' signatures at runtime.

from fastapi import APIRouter

from services.admin.api.deps import AdminCaller, AdminDep, Ref
from services.admin.api.errors import AdminRoute
from services.admin.schemas import BillingRequest, CheckoutLinkRequest, ReconcileRequest

router = APIRouter(prefix="/billing", tags=["billing"], route_class=AdminRoute)


@router.post("/reconcile", status_code=202)
async def reconcile(
    actor: AdminCaller, admin: AdminDep, request: ReconcileRequest
) -> BillingRequest:
    """Feed the Stripe events of the last `since_seconds` that billing never received (the
    scheduled reconcile's own code; running it twice is harmless)."""
    return await admin.actions.request_reconcile(actor, since_seconds=request.since_seconds)


@router.post("/checkout-links", status_code=202)
async def checkout_link(
    actor: AdminCaller, admin: AdminDep, request: CheckoutLinkRequest
) -> BillingRequest:
    """A subscription Checkout link for the caregiver with this phone (their user id rides
    along when they have texted us)."""
    return await admin.actions.request_checkout_link(actor, request.phone, plan=request.plan)


@router.get("/requests/{request_id}")
async def billing_request(actor: AdminCaller, admin: AdminDep, request_id: Ref) -> BillingRequest:
    """A request and, once billing handled it, its result (`done`) or why not (`failed`)."""
    return await admin.reads.billing_request(actor, request_id)

"""Operators' requests reaching billing from the admin API, against the in-memory unit of work:
a reconcile over the asked window and a Checkout link are recorded with their result under the
request's id; what retrying cannot fix (no Stripe key, no price, Stripe refusing) is recorded
as failed with a reason that carries no phone number; an outage raises for the broker to retry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TypeVar

import pytest
import stripe

from services.billing_worker.operator_requests import CheckoutLinkRequests, ReconcileRequests
from services.billing_worker.records import OperatorRequestOutcome, ReconcileReport
from services.billing_worker.settings import BillingSettings
from shared.clock import ManualClock
from shared.events import Envelope, new_event
from shared.events.catalog import BillingReconcileRequested, CheckoutLinkRequested
from shared.events.envelope import Payload
from shared.unit_of_work import PlannedHandler
from tests.fakes.billing import FakeBillingWork

NOW = datetime(2031, 3, 1, 12, tzinfo=UTC)
PHONE = "+15555550142"
REPORT = ReconcileReport(listed=4, already_received=2, fed=2)
P = TypeVar("P", bound=Payload)


def _reconcile_request(request_id: str = "r1") -> Envelope[BillingReconcileRequested]:
    return new_event(
        BillingReconcileRequested(
            request_id=request_id, since_seconds=3 * 86_400, requested_by="op1", requested_at=NOW
        )
    )


def _checkout_request() -> Envelope[CheckoutLinkRequested]:
    return new_event(
        CheckoutLinkRequested(
            request_id="c1",
            phone=PHONE,
            plan="annual",
            user_id="u42",
            requested_by="op1",
            requested_at=NOW,
        )
    )


async def _handled(
    handler: PlannedHandler[P, OperatorRequestOutcome, FakeBillingWork],
    event: Envelope[P],
    uow: FakeBillingWork,
) -> OperatorRequestOutcome:
    """Plan, then apply in a transaction, as the inbox runs a planned handler; the record."""
    plan = await handler.plan(event)
    await uow.run(lambda work: handler.apply(event, plan, work))
    recorded = await uow.operator_requests.get(plan.request_id)
    assert recorded is not None
    return recorded


async def test_a_reconcile_runs_over_the_asked_window_and_is_recorded_once() -> None:
    windows: list[timedelta] = []

    async def reconcile_since(window: timedelta) -> ReconcileReport:
        windows.append(window)
        return REPORT

    uow, clock = FakeBillingWork(), ManualClock(NOW + timedelta(seconds=5))
    handler = ReconcileRequests(reconcile_since, clock)
    recorded = await _handled(handler, _reconcile_request(), uow)
    assert windows == [timedelta(days=3)]
    assert (recorded.kind, recorded.status, recorded.reconcile) == ("reconcile", "done", REPORT)
    assert (recorded.requested_by, recorded.requested_at) == ("op1", NOW)
    assert recorded.finished_at == NOW + timedelta(seconds=5)
    # A redelivery that runs again leaves the first record as it was.
    clock.advance(timedelta(minutes=1))
    assert await _handled(handler, _reconcile_request(), uow) == recorded


async def test_what_retrying_cannot_fix_is_recorded_as_failed_and_an_outage_raises() -> None:
    async def refused(window: timedelta) -> ReconcileReport:
        raise stripe.AuthenticationError("Invalid API Key provided: sk_live_****")

    async def down(window: timedelta) -> ReconcileReport:
        raise stripe.APIError("Stripe is having a bad day")

    uow, clock = FakeBillingWork(), ManualClock(NOW)
    failed = await _handled(ReconcileRequests(refused, clock), _reconcile_request("a"), uow)
    assert (failed.status, failed.error) == (
        "failed",
        "Stripe refused the request: AuthenticationError",
    )
    no_key = await _handled(ReconcileRequests(None, clock), _reconcile_request("b"), uow)
    assert (no_key.status, no_key.error) == ("failed", "the billing worker has no STRIPE_API_KEY")
    with pytest.raises(stripe.APIError):
        await ReconcileRequests(down, clock).plan(_reconcile_request("c"))
    assert await uow.operator_requests.get("c") is None


async def test_a_checkout_link_without_a_key_or_a_price_fails_saying_which() -> None:
    uow, clock = FakeBillingWork(), ManualClock(NOW)
    no_key = await _handled(
        CheckoutLinkRequests(None, BillingSettings(), clock), _checkout_request(), uow
    )
    assert (no_key.kind, no_key.status) == ("checkout_link", "failed")
    assert PHONE not in str(no_key)

    client = stripe.StripeClient("sk_test_unused")  # never called: the price is missing
    priceless = CheckoutLinkRequests(client, BillingSettings(price_annual=None), clock)
    plan = await priceless.plan(_checkout_request())
    assert (plan.status, plan.error) == ("failed", "BILLING_PRICE_ANNUAL is not set")
    assert plan.checkout_url is None

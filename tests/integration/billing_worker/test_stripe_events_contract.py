"""The Stripe events repository's contract, on the fake and on the real server alike: each Stripe
event is recorded once, open until an outcome is final, and kept events come back whole, oldest
first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.billing_worker.records import Outcome
from shared.events.catalog import StripeEventReceived
from tests.integration.billing_worker.conftest import BillingRepositories

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PHONE = "+15555550123"


def stripe_event(
    event_id: str,
    created: datetime,
    customer: str = "cus_1",
    *,
    previous_attributes: dict[str, object] | None = None,
    api_version: str | None = None,
) -> StripeEventReceived:
    return StripeEventReceived(
        stripe_event_id=event_id,
        stripe_type="customer.subscription.updated",
        created=created,
        api_version=api_version,
        # A key MongoDB could not take as a field name: kept as JSON text.
        data_object={"id": "sub_1", "customer": customer, "status": "active", "$odd.key": 1},
        previous_attributes=previous_attributes,
        received_at=NOW,
    )


async def test_an_event_is_recorded_once_and_open_until_its_outcome_is_final(
    repositories: BillingRepositories,
) -> None:
    events = repositories.stripe_events
    payload = stripe_event("evt_1", NOW)
    assert await events.outcome("evt_1") is None

    assert await events.begin(payload, envelope_id="env-1", customer_id="cus_1", now=NOW)
    assert await events.outcome("evt_1") == Outcome.RECEIVED
    # Still open (a handler died before finishing): another copy may take it up.
    assert await events.begin(payload, envelope_id="env-2", customer_id="cus_1", now=NOW)

    await events.finish("evt_1", Outcome.PENDING_LINK, phone=None, now=NOW)
    assert await events.begin(payload, envelope_id="env-3", customer_id="cus_1", now=NOW)

    await events.finish("evt_1", Outcome.APPLIED, phone=PHONE, now=NOW)
    assert not await events.begin(payload, envelope_id="env-4", customer_id="cus_1", now=NOW)
    assert await events.outcome("evt_1") == Outcome.APPLIED

    await events.finish("evt_never_begun", Outcome.APPLIED, phone=PHONE, now=NOW)
    assert await events.outcome("evt_never_begun") is None
    assert await events.received(["evt_1", "evt_never_begun", "evt_2"]) == {"evt_1"}


async def test_kept_events_come_back_whole_oldest_first_for_their_customer_only(
    repositories: BillingRepositories,
) -> None:
    events = repositories.stripe_events
    late = stripe_event("evt_a_late", NOW, previous_attributes={"status": "trialing"})
    early = stripe_event("evt_z_early", NOW - timedelta(minutes=5), api_version="2025-03-31")
    tie = stripe_event("evt_b_tie", NOW)
    applied = stripe_event("evt_applied", NOW - timedelta(minutes=9))
    elsewhere = stripe_event("evt_other", NOW - timedelta(minutes=9), customer="cus_2")
    for payload, customer in [
        (late, "cus_1"),
        (early, "cus_1"),
        (tie, "cus_1"),
        (applied, "cus_1"),
        (elsewhere, "cus_2"),
    ]:
        await events.begin(payload, envelope_id="env", customer_id=customer, now=NOW)
        outcome = Outcome.APPLIED if payload is applied else Outcome.PENDING_LINK
        await events.finish(payload.stripe_event_id, outcome, phone=None, now=NOW)

    assert await events.pending_for("cus_1") == [early, late, tie]
    assert await events.pending_for("cus_3") == []

"""The scheduled reconcile and the webhook path are idempotent with each other, on the real broker
and database with Stripe's SDK talking to the fake Stripe API: a reconcile after the webhooks
were consumed changes nothing; an event whose webhook never came is applied once, by one of two
racing replicas, and not again at the next run; the webhook that arrives after all changes
nothing, whether ingress still dedupes it or not."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from services.billing_worker.reconcile_schedule import ScheduledReconcile, stripe_reconciler
from services.billing_worker.records import ReconcileReport
from services.billing_worker.settings import BillingSettings
from services.billing_worker.store import (
    ACCOUNTS,
    EVENTS,
    MongoReconcileRuns,
    MongoStripeEvents,
)
from services.billing_worker.stripe_client import stripe_client
from services.devtools.stripe_events import (
    checkout_session_object,
    event_object,
    subscription_object,
)
from shared.config import StripeSettings
from tests.fakes.stripe_api import FakeStripeServer
from tests.integration.billing_worker.conftest import BillingHarness, stripe_envelope

pytestmark = pytest.mark.integration

PHONE = "+15555550143"
DAY = timedelta(days=1)


def _schedule(
    billing: BillingHarness, fake_stripe: FakeStripeServer, holder: str = "replica-a"
) -> ScheduledReconcile:
    client = stripe_client(
        StripeSettings(api_key="sk_test_schedule", api_base_url=fake_stripe.base_url),
        BillingSettings(stripe_max_network_retries=0),
    )
    reconcile_since = stripe_reconciler(
        client, MongoStripeEvents(billing.db), billing.publisher, billing.clock
    )
    return ScheduledReconcile(
        MongoReconcileRuns(billing.db),
        reconcile_since,
        billing.clock,
        holder=holder,
        interval_seconds=DAY.total_seconds(),
    )


def _events(billing: BillingHarness) -> tuple[dict[str, Any], dict[str, Any]]:
    """A checkout and its subscription, as Stripe lists them: created within the hour the next
    run lists again (the window's overlap), so it sees them too."""
    now = billing.clock.now()
    checkout = event_object(
        "evt_sched_checkout",
        "checkout.session.completed",
        now - timedelta(minutes=40),
        checkout_session_object("cus_s", "sub_s", phone=PHONE),
    )
    subscription = event_object(
        "evt_sched_sub",
        "customer.subscription.created",
        now - timedelta(minutes=30),
        subscription_object("sub_s", "cus_s", "active", current_period_end=now + 30 * DAY),
    )
    return checkout, subscription


async def _stored(billing: BillingHarness) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every account and every recorded Stripe event, whole: any write would show."""
    accounts = await billing.db[ACCOUNTS].find().sort("_id").to_list(None)
    events = await billing.db[EVENTS].find().sort("_id").to_list(None)
    return accounts, events


async def _published(billing: BillingHarness) -> tuple[list[bool], list[str]]:
    sms = [request.idempotency_key for request in await billing.sms_published()]
    return await billing.access_published(), sms


async def test_a_reconcile_after_the_webhooks_were_consumed_changes_nothing(
    billing: BillingHarness, fake_stripe: FakeStripeServer
) -> None:
    for stripe_event in _events(billing):
        fake_stripe.stripe.add_event(stripe_event)
        await billing.deliver(stripe_envelope(stripe_event))
    stored, published = await _stored(billing), await _published(billing)
    assert published == ([True], [f"billing:welcome:{PHONE}"])

    report = await _schedule(billing, fake_stripe).run_if_due()

    assert report == ReconcileReport(listed=2, already_received=2, fed=0)
    await billing.settle(2)
    assert await _stored(billing) == stored
    assert await _published(billing) == published


async def test_a_missed_event_is_applied_once_by_one_of_two_replicas(
    billing: BillingHarness, fake_stripe: FakeStripeServer
) -> None:
    checkout, missed = _events(billing)
    fake_stripe.stripe.add_event(checkout)
    fake_stripe.stripe.add_event(missed)
    await billing.deliver(stripe_envelope(checkout))  # the subscription's webhook never comes
    first, second = _schedule(billing, fake_stripe), _schedule(billing, fake_stripe, "replica-b")

    reports = await asyncio.gather(first.run_if_due(), second.run_if_due())

    assert sorted(reports, key=lambda report: report is None) == [
        ReconcileReport(listed=2, already_received=1, fed=1),
        None,
    ]
    assert len(fake_stripe.stripe.calls_to("GET", "/v1/events")) == 1
    await billing.settle(2)
    account = await billing.account(PHONE)
    assert (account.status, account.has_access) == ("active", True)
    assert await billing.event_status(missed["id"]) == "applied"
    stored, published = await _stored(billing), await _published(billing)
    assert published == ([True], [f"billing:welcome:{PHONE}"])

    billing.clock.advance(DAY)  # the next run lists them again, in its overlap
    again = await second.run_if_due()

    assert again == ReconcileReport(listed=2, already_received=2, fed=0)
    await billing.settle(2)
    assert await _stored(billing) == stored
    assert await _published(billing) == published


@pytest.mark.parametrize(
    "late_key",
    [None, "stripe:evt_sched_sub:redelivered"],
    ids=["ingress-key", "key-ingress-no-longer-dedupes"],
)
async def test_the_webhook_arriving_after_the_reconcile_changes_nothing(
    billing: BillingHarness, fake_stripe: FakeStripeServer, late_key: str | None
) -> None:
    """With ingress's key the inbox drops it; under another envelope (ingress's dedupe row long
    expired) `billing_events` does."""
    checkout, missed = _events(billing)
    fake_stripe.stripe.add_event(checkout)
    fake_stripe.stripe.add_event(missed)
    await billing.deliver(stripe_envelope(checkout))
    assert await _schedule(billing, fake_stripe).run_if_due() is not None
    await billing.settle(2)
    stored, published = await _stored(billing), await _published(billing)
    assert published == ([True], [f"billing:welcome:{PHONE}"])

    await billing.deliver(stripe_envelope(missed, idempotency_key=late_key))

    assert billing.deliveries.count(missed["id"]) == 2
    assert await _stored(billing) == stored
    assert await _published(billing) == published

"""When events leave doubt the worker asks Stripe (through the SDK, at the fake API); when a
canceled subscription's paid period ends — a moment no event marks — access goes, announced once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from services.billing_worker.expiry import AccessExpiry
from services.billing_worker.refetch import SubscriptionRefresher
from services.billing_worker.settings import BillingSettings
from services.billing_worker.stripe_client import StripeSubscriptions, stripe_client
from services.billing_worker.unit_of_work import AccountReads
from services.devtools.stripe_events import (
    checkout_session_object,
    event_object,
    subscription_object,
)
from shared.clock import ManualClock
from shared.config import StripeSettings
from tests.fakes.stripe_api import FakeStripeServer
from tests.integration.billing_worker.conftest import BillingHarness, stripe_envelope

pytestmark = pytest.mark.integration

PHONE = "+15555550177"


@pytest.fixture
def refresher_factory(
    fake_stripe: FakeStripeServer,
) -> Callable[[AccountReads, ManualClock], SubscriptionRefresher]:
    client = stripe_client(
        StripeSettings(api_key="sk_test_refetch", api_base_url=fake_stripe.base_url),
        BillingSettings(stripe_max_network_retries=0),
    )

    def build(accounts: AccountReads, clock: ManualClock) -> SubscriptionRefresher:
        return SubscriptionRefresher("uncertain", StripeSubscriptions(client), accounts, clock)

    return build


async def _link(billing: BillingHarness, customer: str, subscription: str) -> None:
    session = checkout_session_object(customer, subscription, phone=PHONE)
    checkout = event_object(
        "evt_checkout",
        "checkout.session.completed",
        billing.clock.now() - timedelta(hours=1),
        session,
    )
    await billing.deliver(stripe_envelope(checkout))


async def test_tied_or_thin_subscription_events_are_settled_by_asking_stripe(
    billing: BillingHarness, fake_stripe: FakeStripeServer
) -> None:
    await _link(billing, "cus_t", "sub_t")
    now = billing.clock.now()
    period_end = now + timedelta(days=30)
    tied_at = now - timedelta(minutes=5)
    fake_stripe.stripe.put_subscription(
        subscription_object("sub_t", "cus_t", "unpaid", current_period_end=period_end)
    )

    def updated(event_id: str, status: str) -> dict[str, object]:
        subscription = subscription_object("sub_t", "cus_t", status, current_period_end=period_end)
        return event_object(event_id, "customer.subscription.updated", tied_at, subscription)

    await billing.deliver(stripe_envelope(updated("evt_first", "active")))
    assert fake_stripe.stripe.calls_to("GET", "/v1/subscriptions") == []
    # Same second as the change just applied: which came first is unknown, so Stripe decides.
    await billing.deliver(stripe_envelope(updated("evt_tied", "past_due")))
    account = await billing.account(PHONE)
    assert (account.status, account.has_access) == ("unpaid", False)

    # A thin event (no status) later: Stripe's copy again, now active.
    billing.clock.advance(timedelta(minutes=2))
    fake_stripe.stripe.put_subscription(
        subscription_object("sub_t", "cus_t", "active", current_period_end=period_end)
    )
    thin = event_object(
        "evt_thin",
        "customer.subscription.updated",
        billing.clock.now(),
        {"id": "sub_t", "object": "subscription", "customer": "cus_t"},
    )
    await billing.deliver(stripe_envelope(thin))

    account = await billing.account(PHONE)
    assert (account.status, account.has_access) == ("active", True)
    fetches = fake_stripe.stripe.calls_to("GET", "/v1/subscriptions/sub_t")
    assert len(fetches) == 2
    assert await billing.access_published() == [True, False, True]


async def test_canceled_access_lasts_until_the_period_ends_then_is_withdrawn_once(
    billing: BillingHarness,
) -> None:
    await _link(billing, "cus_c", "sub_c")
    now = billing.clock.now()
    canceled = event_object(
        "evt_canceled",
        "customer.subscription.deleted",
        now - timedelta(minutes=1),
        subscription_object(
            "sub_c",
            "cus_c",
            "canceled",
            current_period_end=now + timedelta(hours=1),
            canceled_at=now - timedelta(minutes=1),
        ),
    )
    await billing.deliver(stripe_envelope(canceled))
    assert (await billing.account(PHONE)).has_access
    expiry = AccessExpiry(
        billing.accounts, billing.transactions, billing.clock, interval_seconds=60
    )
    assert await expiry.expire_due() == 0

    billing.clock.advance(timedelta(hours=1))
    assert await expiry.expire_due() == 1
    assert await expiry.expire_due() == 0
    await billing.settle(2)

    account = await billing.account(PHONE)
    assert (account.status, account.has_access) == ("canceled", False)
    assert await billing.access_published() == [True, False]

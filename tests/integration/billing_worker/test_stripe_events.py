"""Stripe events through the real broker and database: subscriptions in any order and twice end in
the right state, each access flip is announced once, texts are requested once, and events for
a customer nobody knows yet wait for the checkout that links it."""

from __future__ import annotations

import asyncio
import random
from datetime import datetime, timedelta
from typing import Any

import pytest

from services.devtools.stripe_events import (
    checkout_session_object,
    event_object,
    invoice_object,
    subscription_object,
)
from shared.events.catalog import SmsOutboundRequested
from tests.integration.billing_worker.conftest import SIGNUP_URL, BillingHarness, stripe_envelope

pytestmark = pytest.mark.integration

PHONE = "+15555550123"
CUSTOMER = "cus_alice"
SUBSCRIPTION = "sub_alice"


def _lifecycle(now: datetime) -> dict[str, dict[str, Any]]:
    """created(active) → updated(past_due) → updated(active) → deleted, a minute apart; the
    deletion ends the paid period an hour before `now`."""
    period_end = now + timedelta(days=30)
    start = now - timedelta(minutes=10)

    def event(name: str, minute: int, status: str, **fields: Any) -> dict[str, Any]:
        kind = {"c": "created", "pd": "updated", "a": "updated", "d": "deleted"}[name]
        subscription = subscription_object(
            SUBSCRIPTION, CUSTOMER, status, **{"current_period_end": period_end, **fields}
        )
        return event_object(
            f"evt_{name}",
            f"customer.subscription.{kind}",
            start + timedelta(minutes=minute),
            subscription,
        )

    return {
        "c": event("c", 1, "active"),
        "pd": event("pd", 2, "past_due"),
        "a": event("a", 3, "active"),
        "d": event(
            "d",
            4,
            "canceled",
            current_period_end=now - timedelta(hours=1),
            canceled_at=now - timedelta(hours=1),
        ),
    }


def _checkout(event_id: str, created: datetime, **kwargs: Any) -> dict[str, Any]:
    session = checkout_session_object(kwargs.pop("customer", CUSTOMER), SUBSCRIPTION, **kwargs)
    return event_object(event_id, "checkout.session.completed", created, session)


async def _link(billing: BillingHarness) -> None:
    checkout = _checkout("evt_checkout", billing.clock.now() - timedelta(minutes=20), phone=PHONE)
    await billing.deliver(stripe_envelope(checkout))


@pytest.mark.parametrize(
    ("order", "announced"),
    [
        (["c", "pd", "a", "d"], [True, False]),
        (["d", "a", "pd", "c"], []),
        (["pd", "c", "a", "pd", "d", "c*"], [True, False]),
        (["a", "d", "pd", "c", "a*", "d"], [True, False]),
    ],
    ids=["in-order", "reversed", "shuffled-with-duplicates", "late-and-twice"],
)
async def test_subscription_lifecycle_in_any_order_ends_canceled_with_one_event_per_flip(
    billing: BillingHarness, order: list[str], announced: list[bool]
) -> None:
    """One delivery at a time, so which flips happen is known; `x*` is a second copy of `x`
    under another envelope id (dedupe by Stripe event id), a bare repeat is a redelivery."""
    await _link(billing)
    events = _lifecycle(billing.clock.now())
    for name in order:
        stripe_event = events[name.rstrip("*")]
        key = f"copy:{stripe_event['id']}" if name.endswith("*") else None
        await billing.deliver(stripe_envelope(stripe_event, idempotency_key=key))

    account = await billing.account(PHONE)
    assert (account.status, account.has_access, account.subscription_id) == (
        "canceled",
        False,
        SUBSCRIPTION,
    )
    assert await billing.access_published() == announced
    assert await billing.db.billing_events.count_documents({}) == 5
    assert await billing.event_status("evt_d") == "applied"


async def test_burst_of_shuffled_duplicated_events_settles_and_flips_alternate(
    billing: BillingHarness,
) -> None:
    """All at once, so handlers race for the account: conflicts are retried, nothing is lost."""
    await _link(billing)
    events = _lifecycle(billing.clock.now())
    deliveries = [stripe_envelope(e) for e in events.values()]
    deliveries += [stripe_envelope(e, idempotency_key=f"copy:{e['id']}") for e in events.values()]
    deliveries += deliveries[:4]
    random.Random(6).shuffle(deliveries)
    await asyncio.gather(*(billing.publish(envelope) for envelope in deliveries))
    await billing.settle(1 + len(deliveries))

    account = await billing.account(PHONE)
    assert (account.status, account.has_access) == ("canceled", False)
    flips = await billing.access_published()
    assert flips in ([], [True, False])  # depends on which event won the race first
    assert await billing.db.billing_events.count_documents({"status": "received"}) == 0


async def test_checkout_twice_welcomes_once_and_failed_invoice_twice_notifies_once(
    billing: BillingHarness,
) -> None:
    now = billing.clock.now()
    first = _checkout("evt_checkout_1", now - timedelta(minutes=5), phone=PHONE, user_id="u-1")
    # A second checkout for the same caregiver later (a new customer, say): still no second hello.
    second = _checkout(
        "evt_checkout_2", now - timedelta(minutes=4), phone=PHONE, customer="cus_alice_2"
    )
    await billing.deliver(stripe_envelope(first), stripe_envelope(first, idempotency_key="again"))
    await billing.deliver(stripe_envelope(second))

    invoice = invoice_object("in_1", CUSTOMER, SUBSCRIPTION)
    failed = event_object(
        "evt_fail_1", "invoice.payment_failed", now - timedelta(minutes=3), invoice
    )
    # Stripe's retry of the same invoice fails again: a new event, the same invoice.
    failed_again = event_object(
        "evt_fail_2", "invoice.payment_failed", now - timedelta(minutes=2), invoice
    )
    other_invoice = event_object(
        "evt_fail_3",
        "invoice.payment_failed",
        now - timedelta(minutes=1),
        invoice_object("in_2", CUSTOMER, SUBSCRIPTION),
    )
    await billing.deliver(stripe_envelope(failed), stripe_envelope(failed))
    await billing.deliver(stripe_envelope(failed_again), stripe_envelope(other_invoice))

    requests = await billing.sms_published()
    keys = sorted(r.idempotency_key for r in requests)
    assert keys == [
        "billing:payment-failed:in_1",
        "billing:payment-failed:in_2",
        f"billing:welcome:{PHONE}",
    ]
    by_key = {r.idempotency_key: r.payload for r in requests}
    welcome: SmsOutboundRequested = by_key[f"billing:welcome:{PHONE}"]
    assert (welcome.to_number, welcome.kind, welcome.user_id) == (PHONE, "billing", "u-1")
    notice = by_key["billing:payment-failed:in_1"]
    assert f"{SIGNUP_URL}?phone=%2B15555550123" in notice.body
    account = await billing.account(PHONE)
    assert account.welcomed
    assert account.user_id == "u-1"


async def test_events_for_an_unknown_customer_wait_for_the_checkout_that_links_it(
    billing: BillingHarness,
) -> None:
    now = billing.clock.now()
    created = event_object(
        "evt_sub_created",
        "customer.subscription.created",
        now - timedelta(minutes=3),
        subscription_object(
            SUBSCRIPTION, CUSTOMER, "trialing", current_period_end=now + timedelta(days=7)
        ),
    )
    failed = event_object(
        "evt_fail",
        "invoice.payment_failed",
        now - timedelta(minutes=2),
        invoice_object("in_early", CUSTOMER, SUBSCRIPTION),
    )
    await billing.deliver(stripe_envelope(created), stripe_envelope(failed))
    assert await billing.event_status("evt_sub_created") == "pending_link"
    assert await billing.event_status("evt_fail") == "pending_link"
    assert await billing.accounts.get(PHONE) is None
    assert await billing.access_published() == []

    checkout = _checkout("evt_checkout", now - timedelta(minutes=1), phone=PHONE)
    await billing.deliver(stripe_envelope(checkout))

    account = await billing.account(PHONE)
    assert (account.status, account.has_access, account.subscription_id) == (
        "trialing",
        True,
        SUBSCRIPTION,
    )
    assert await billing.event_status("evt_sub_created") == "applied"
    assert await billing.event_status("evt_fail") == "applied"
    assert await billing.access_published() == [True]
    keys = sorted(r.idempotency_key for r in await billing.sms_published())
    assert keys == ["billing:payment-failed:in_early", f"billing:welcome:{PHONE}"]


async def test_subscription_metadata_links_without_a_checkout_and_other_types_are_recorded(
    billing: BillingHarness,
) -> None:
    now = billing.clock.now()
    created = event_object(
        "evt_with_metadata",
        "customer.subscription.created",
        now - timedelta(minutes=2),
        subscription_object(
            "sub_meta",
            "cus_meta",
            "active",
            current_period_end=now + timedelta(days=30),
            metadata={"phone": "(555) 555-0199", "user_id": "u-9"},
        ),
    )
    unrelated = event_object(
        "evt_customer", "customer.updated", now - timedelta(minutes=1), {"id": "cus_meta"}
    )
    await billing.deliver(stripe_envelope(created), stripe_envelope(unrelated))

    account = await billing.account("+15555550199")
    assert (account.has_access, account.user_id) == (True, "u-9")
    assert await billing.event_status("evt_customer") == "ignored"
    changes = await billing.access_changes.drain()
    assert [(c.payload.phone, c.payload.user_id, c.payload.status) for c in changes] == [
        ("+15555550199", "u-9", "active")
    ]

"""Every billing handler against the in-memory unit of work: each Stripe event type's path, the
re-fetch plan and its staleness, and the access expiry sweep — state and emitted events, in
milliseconds. The same paths through the real broker and database are in
tests/integration/billing_worker/; the fake is held to the real repositories by the contract tests
there."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.billing_worker.domain.access import RefetchPolicy
from services.billing_worker.expiry import AccessExpiry
from services.billing_worker.handlers import (
    BillingTexts,
    StripeEventHandler,
    SubscriptionPlan,
    UnlinkedAccount,
)
from services.billing_worker.records import BillingAccount, CustomerLink, Outcome
from services.billing_worker.refetch import SubscriptionRefresher
from services.billing_worker.service import StripeEventConsumer
from services.billing_worker.stripe_objects import stripe_event_payload
from services.devtools.stripe_events import (
    checkout_session_object,
    event_object,
    invoice_object,
    subscription_object,
)
from shared.broker import PermanentError
from shared.clock import ManualClock
from shared.events import Envelope, new_event
from shared.events.catalog import BillingAccessChanged, SmsOutboundRequested, StripeEventReceived
from shared.unit_of_work import StalePlan
from tests.fakes.billing import FakeBillingWork, OutsideReads

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PHONE = "+15555550123"
OTHER_PHONE = "+15555550188"
CUSTOMER = "cus_alice"
SUBSCRIPTION = "sub_alice"
SIGNUP_URL = "https://signup.givecare.test/join"
PERIOD_END = NOW + timedelta(days=30)


class StripeCopies:
    """Stripe's API as the re-fetch sees it: the subscriptions it holds, and who asked."""

    def __init__(self) -> None:
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self.asked: list[str] = []

    async def subscription(self, subscription_id: str) -> Mapping[str, Any] | None:
        self.asked.append(subscription_id)
        return self.subscriptions.get(subscription_id)


@dataclass
class Billing:
    uow: FakeBillingWork = field(default_factory=FakeBillingWork)
    clock: ManualClock = field(default_factory=lambda: ManualClock(NOW))
    stripe: StripeCopies = field(default_factory=StripeCopies)
    refetch: RefetchPolicy = "off"

    @property
    def consumer(self) -> StripeEventConsumer:
        refresher = None
        if self.refetch != "off":
            reads = OutsideReads(self.uow)
            refresher = SubscriptionRefresher(self.refetch, self.stripe, reads, self.clock)
        handler = StripeEventHandler(self.clock, BillingTexts(signup_url=SIGNUP_URL))
        return StripeEventConsumer(handler, refresher)

    async def plan(self, event: Envelope[StripeEventReceived]) -> SubscriptionPlan:
        return await self.consumer.plan(event)

    async def apply(self, event: Envelope[StripeEventReceived], plan: SubscriptionPlan) -> None:
        """As the inbox does: the plan outside, the apply in one all-or-nothing unit of work."""
        await self.uow.run(lambda uow: self.consumer.apply(event, plan, uow))

    async def deliver(self, *stripe_events: dict[str, Any]) -> None:
        for stripe_event in stripe_events:
            event = envelope(stripe_event)
            await self.apply(event, await self.plan(event))

    async def account(self, phone: str = PHONE) -> BillingAccount:
        account = await self.uow.accounts.get(phone)
        assert account is not None
        return account

    async def outcome(self, stripe_event_id: str) -> Outcome | None:
        return await self.uow.stripe_events.outcome(stripe_event_id)

    def access_announced(self) -> list[tuple[str, bool, str]]:
        return [
            (e.idempotency_key, e.payload.has_access, e.payload.status)
            for e in self.uow.emitted
            if isinstance(e.payload, BillingAccessChanged)
        ]

    def texts(self) -> dict[str, SmsOutboundRequested]:
        return {
            e.idempotency_key: e.payload
            for e in self.uow.emitted
            if isinstance(e.payload, SmsOutboundRequested)
        }


def envelope(stripe_event: dict[str, Any], key: str | None = None) -> Envelope[StripeEventReceived]:
    payload = stripe_event_payload(stripe_event, received_at=NOW)
    return new_event(
        payload,
        event_type=f"billing.stripe.{payload.stripe_type}",
        idempotency_key=key or f"stripe:{payload.stripe_event_id}",
    )


def checkout(event_id: str, minutes_ago: int, **kwargs: Any) -> dict[str, Any]:
    session = checkout_session_object(kwargs.pop("customer", CUSTOMER), SUBSCRIPTION, **kwargs)
    created = NOW - timedelta(minutes=minutes_ago)
    return event_object(event_id, "checkout.session.completed", created, session)


def subscription_event(
    event_id: str,
    kind: str,
    status: str,
    minutes_ago: int,
    *,
    subscription: str = SUBSCRIPTION,
    **fields: Any,
) -> dict[str, Any]:
    obj = subscription_object(
        subscription, CUSTOMER, status, **{"current_period_end": PERIOD_END, **fields}
    )
    created = NOW - timedelta(minutes=minutes_ago)
    return event_object(event_id, f"customer.subscription.{kind}", created, obj)


def invoice_event(event_id: str, kind: str, invoice_id: str, minutes_ago: int) -> dict[str, Any]:
    invoice = invoice_object(invoice_id, CUSTOMER, SUBSCRIPTION)
    return event_object(event_id, f"invoice.{kind}", NOW - timedelta(minutes=minutes_ago), invoice)


@pytest.fixture
def billing() -> Billing:
    return Billing()


@pytest.fixture
async def linked(billing: Billing) -> Billing:
    """`PHONE` linked to `CUSTOMER` by a checkout an hour ago (and welcomed)."""
    await billing.deliver(checkout("evt_checkout", 60, phone=PHONE, user_id="u-1"))
    return billing


# -- checkout ----------------------------------------------------------------------------------


async def test_checkout_links_the_customer_opens_the_account_and_welcomes_once(
    billing: Billing,
) -> None:
    first = checkout("evt_checkout_1", 5, phone=PHONE, user_id="u-1")
    await billing.deliver(first)
    # The same Stripe event under another envelope, then a later checkout with a new customer.
    await billing.apply(envelope(first, key="again"), SubscriptionPlan())
    await billing.deliver(checkout("evt_checkout_2", 4, phone=PHONE, customer="cus_alice_2"))

    assert await billing.uow.customers.get(CUSTOMER) == CustomerLink(CUSTOMER, PHONE, "u-1")
    assert await billing.uow.customers.get("cus_alice_2") == CustomerLink(
        "cus_alice_2", PHONE, None
    )
    account = await billing.account()
    assert (account.user_id, account.welcomed, account.has_access) == ("u-1", True, False)
    texts = billing.texts()
    assert list(texts) == [f"billing:welcome:{PHONE}"]
    welcome = texts[f"billing:welcome:{PHONE}"]
    assert (welcome.to_number, welcome.kind, welcome.user_id) == (PHONE, "billing", "u-1")
    assert billing.access_announced() == []  # no access yet, and none announced
    assert await billing.outcome("evt_checkout_1") == Outcome.APPLIED
    assert await billing.outcome("evt_checkout_2") == Outcome.APPLIED


async def test_checkout_with_only_a_user_id_links_to_that_users_account(linked: Billing) -> None:
    await linked.deliver(checkout("evt_by_user", 5, customer="cus_second", user_id="u-1"))

    assert await linked.uow.customers.get("cus_second") == CustomerLink("cus_second", PHONE, "u-1")
    assert await linked.outcome("evt_by_user") == Outcome.APPLIED


async def test_checkout_naming_nobody_is_recorded_unlinkable(billing: Billing) -> None:
    await billing.deliver(checkout("evt_anon", 5, user_id="u-unknown"))

    assert await billing.outcome("evt_anon") == Outcome.UNLINKABLE
    assert await billing.uow.customers.get(CUSTOMER) is None
    assert billing.uow.emitted == []


async def test_checkout_for_a_customer_of_another_caregiver_is_parked_and_writes_nothing(
    linked: Billing,
) -> None:
    with pytest.raises(PermanentError, match="belongs to another account"):
        await linked.deliver(checkout("evt_theft", 5, phone=OTHER_PHONE))

    assert await linked.outcome("evt_theft") is None
    assert await linked.uow.accounts.get(OTHER_PHONE) is None
    assert await linked.uow.customers.get(CUSTOMER) == CustomerLink(CUSTOMER, PHONE, "u-1")


# -- subscriptions -----------------------------------------------------------------------------


async def test_created_then_canceled_subscription_announces_each_flip_once(
    linked: Billing,
) -> None:
    await linked.deliver(subscription_event("evt_created", "created", "active", 30))
    account = await linked.account()
    assert (account.subscription_id, account.status, account.has_access) == (
        SUBSCRIPTION,
        "active",
        True,
    )
    assert account.last_event_at == NOW - timedelta(minutes=30)

    ended = NOW - timedelta(minutes=1)
    deleted = subscription_event(
        "evt_deleted", "deleted", "canceled", 10, current_period_end=ended, canceled_at=ended
    )
    await linked.deliver(deleted, deleted)

    account = await linked.account()
    assert (account.status, account.has_access, account.current_period_end) == (
        "canceled",
        False,
        ended,
    )
    assert linked.access_announced() == [
        (f"billing:access:{PHONE}:1", True, "active"),
        (f"billing:access:{PHONE}:2", False, "canceled"),
    ]
    assert await linked.outcome("evt_deleted") == Outcome.APPLIED


async def test_an_older_change_to_the_same_subscription_is_stale(linked: Billing) -> None:
    await linked.deliver(subscription_event("evt_active", "updated", "active", 5))
    await linked.deliver(subscription_event("evt_unpaid_earlier", "updated", "unpaid", 10))

    account = await linked.account()
    assert (account.status, account.has_access) == ("active", True)
    assert await linked.outcome("evt_unpaid_earlier") == Outcome.STALE
    assert [flip for _, flip, _ in linked.access_announced()] == [True]


async def test_another_subscription_replaces_a_live_one_only_when_newer_and_granting_access(
    linked: Billing,
) -> None:
    await linked.deliver(subscription_event("evt_live", "created", "active", 20))
    late_old = subscription_event("evt_old", "deleted", "canceled", 30, subscription="sub_old")
    newer_unpaid = subscription_event("evt_unpaid", "created", "incomplete", 10, subscription="s2")
    await linked.deliver(late_old, newer_unpaid)

    assert await linked.outcome("evt_old") == Outcome.OTHER_SUBSCRIPTION
    assert await linked.outcome("evt_unpaid") == Outcome.OTHER_SUBSCRIPTION
    assert (await linked.account()).subscription_id == SUBSCRIPTION

    await linked.deliver(subscription_event("evt_new", "created", "active", 5, subscription="s3"))
    account = await linked.account()
    assert (account.subscription_id, account.has_access) == ("s3", True)
    assert await linked.outcome("evt_new") == Outcome.APPLIED


async def test_a_subscription_naming_its_caregiver_links_without_a_checkout(
    billing: Billing,
) -> None:
    created = subscription_event(
        "evt_meta", "created", "active", 2, metadata={"phone": "(555) 555-0199", "user_id": "u-9"}
    )
    await billing.deliver(created)

    account = await billing.account("+15555550199")
    assert (account.user_id, account.has_access) == ("u-9", True)
    assert await billing.uow.customers.get(CUSTOMER) == CustomerLink(
        CUSTOMER, "+15555550199", "u-9"
    )
    assert billing.access_announced() == [("billing:access:+15555550199:1", True, "active")]
    assert billing.texts() == {}  # no checkout, no welcome


async def test_a_subscription_without_a_status_is_parked_and_leaves_nothing(
    linked: Billing,
) -> None:
    before = list(linked.uow.emitted)
    thin = event_object(
        "evt_thin",
        "customer.subscription.updated",
        NOW,
        {"id": SUBSCRIPTION, "object": "subscription", "customer": CUSTOMER},
    )
    with pytest.raises(PermanentError, match="without a status"):
        await linked.deliver(thin)

    assert await linked.outcome("evt_thin") is None
    assert linked.uow.emitted == before
    assert (await linked.account()).subscription_id is None


async def test_events_without_a_customer_or_of_other_types_are_recorded_ignored(
    billing: Billing,
) -> None:
    no_customer = event_object(
        "evt_no_customer", "invoice.paid", NOW, {"id": "in_x", "object": "invoice"}
    )
    other = event_object("evt_customer", "customer.updated", NOW, {"id": CUSTOMER})
    await billing.deliver(no_customer, other)

    assert await billing.outcome("evt_no_customer") == Outcome.IGNORED
    assert await billing.outcome("evt_customer") == Outcome.IGNORED
    assert billing.uow.emitted == []


# -- invoices ----------------------------------------------------------------------------------


async def test_a_failed_invoice_asks_for_one_notice_however_often_it_fails(
    linked: Billing,
) -> None:
    await linked.deliver(
        invoice_event("evt_fail_1", "payment_failed", "in_1", 3),
        invoice_event("evt_fail_2", "payment_failed", "in_1", 2),
        invoice_event("evt_fail_3", "payment_failed", "in_2", 1),
    )

    notices = {k: v for k, v in linked.texts().items() if "payment-failed" in k}
    assert sorted(notices) == ["billing:payment-failed:in_1", "billing:payment-failed:in_2"]
    notice = notices["billing:payment-failed:in_1"]
    assert (notice.to_number, notice.user_id) == (PHONE, "u-1")
    assert f"{SIGNUP_URL}?phone=%2B15555550123" in notice.body
    assert (await linked.account()).payment_notice_invoices == ("in_1", "in_2")
    assert await linked.outcome("evt_fail_2") == Outcome.APPLIED


async def test_an_invoice_paid_before_its_failure_arrived_sends_no_notice(linked: Billing) -> None:
    await linked.deliver(invoice_event("evt_paid", "paid", "in_1", 1))
    await linked.deliver(invoice_event("evt_failed_late", "payment_failed", "in_1", 2))

    assert (await linked.account()).last_paid_invoice_id == "in_1"
    assert await linked.outcome("evt_paid") == Outcome.APPLIED
    assert await linked.outcome("evt_failed_late") == Outcome.STALE
    assert [k for k in linked.texts() if "payment-failed" in k] == []


async def test_an_invoice_without_an_id_is_parked(linked: Billing) -> None:
    invoice = event_object("evt_no_id", "invoice.paid", NOW, {"customer": CUSTOMER})
    with pytest.raises(PermanentError, match="invoice without an id"):
        await linked.deliver(invoice)
    assert await linked.outcome("evt_no_id") is None


# -- events waiting for a link -----------------------------------------------------------------


async def test_events_for_an_unknown_customer_wait_then_apply_with_the_link(
    billing: Billing,
) -> None:
    trial = subscription_event("evt_trial", "created", "trialing", 3)
    failed = invoice_event("evt_fail", "payment_failed", "in_early", 2)
    broken = event_object(
        "evt_broken",
        "customer.subscription.updated",
        NOW - timedelta(minutes=1),
        {"id": SUBSCRIPTION, "object": "subscription", "customer": CUSTOMER, "status": ""},
    )
    # Kept as it came: a missing status only matters once the event is applied.
    await billing.deliver(trial, failed, broken)

    for kept in ("evt_trial", "evt_fail", "evt_broken"):
        assert await billing.outcome(kept) == Outcome.PENDING_LINK
    assert await billing.uow.customers.get(CUSTOMER) == CustomerLink(CUSTOMER, None, None)
    assert await billing.uow.accounts.get(PHONE) is None
    assert billing.uow.emitted == []

    await billing.deliver(checkout("evt_checkout", 0, phone=PHONE))

    account = await billing.account()
    assert (account.subscription_id, account.status, account.has_access) == (
        SUBSCRIPTION,
        "trialing",
        True,
    )
    assert await billing.outcome("evt_trial") == Outcome.APPLIED
    assert await billing.outcome("evt_fail") == Outcome.APPLIED
    assert await billing.outcome("evt_broken") == Outcome.MALFORMED
    assert [flip for _, flip, _ in billing.access_announced()] == [True]
    assert sorted(billing.texts()) == [
        "billing:payment-failed:in_early",
        f"billing:welcome:{PHONE}",
    ]


async def test_a_linked_customer_without_its_account_is_damaged_data(billing: Billing) -> None:
    billing.uow.customers.rows[CUSTOMER] = CustomerLink(CUSTOMER, PHONE, None)

    with pytest.raises(UnlinkedAccount):
        await billing.deliver(invoice_event("evt_fail", "payment_failed", "in_1", 1))
    assert await billing.outcome("evt_fail") is None


# -- the re-fetch plan -------------------------------------------------------------------------


async def test_a_change_tied_with_the_applied_one_is_settled_by_stripes_copy(
    linked: Billing,
) -> None:
    linked.refetch = "uncertain"
    await linked.deliver(subscription_event("evt_first", "updated", "active", 5))
    assert linked.stripe.asked == []

    linked.stripe.subscriptions[SUBSCRIPTION] = subscription_object(
        SUBSCRIPTION, CUSTOMER, "unpaid", current_period_end=PERIOD_END
    )
    await linked.deliver(subscription_event("evt_tied", "updated", "past_due", 5))

    account = await linked.account()
    assert (account.status, account.has_access) == ("unpaid", False)
    assert account.last_event_at == NOW  # Stripe's answer counts as observed when asked
    assert linked.stripe.asked == [SUBSCRIPTION]
    assert [flip for _, flip, _ in linked.access_announced()] == [True, False]


async def test_a_plan_overtaken_by_another_change_is_stale_and_made_again(
    linked: Billing,
) -> None:
    linked.refetch = "uncertain"
    thin = envelope(
        event_object(
            "evt_thin",
            "customer.subscription.updated",
            NOW,
            {"id": SUBSCRIPTION, "object": "subscription", "customer": CUSTOMER},
        )
    )
    linked.stripe.subscriptions[SUBSCRIPTION] = subscription_object(
        SUBSCRIPTION, CUSTOMER, "active", current_period_end=PERIOD_END
    )
    plan = await linked.plan(thin)
    assert plan.fresh is not None
    assert plan.applied_at is None
    # Another event of the subscription is applied between the plan and its transaction.
    await linked.deliver(subscription_event("evt_between", "created", "trialing", 1))

    with pytest.raises(StalePlan):
        await linked.apply(thin, plan)
    assert await linked.outcome("evt_thin") is None

    await linked.apply(thin, await linked.plan(thin))
    account = await linked.account()
    assert (account.status, account.last_event_at) == ("active", NOW)
    assert await linked.outcome("evt_thin") == Outcome.APPLIED


# -- access expiry -----------------------------------------------------------------------------


async def test_canceled_access_ends_with_the_paid_period_announced_once(linked: Billing) -> None:
    await linked.deliver(
        subscription_event(
            "evt_canceled",
            "deleted",
            "canceled",
            1,
            current_period_end=NOW + timedelta(hours=1),
            canceled_at=NOW - timedelta(minutes=1),
        )
    )
    expiry = AccessExpiry(OutsideReads(linked.uow), linked.uow, linked.clock, interval_seconds=60)
    assert (await linked.account()).has_access
    assert await expiry.expire_due() == 0

    linked.clock.advance(timedelta(hours=1))
    assert await expiry.expire_due() == 1
    assert await expiry.expire_due() == 0

    account = await linked.account()
    assert (account.status, account.has_access) == ("canceled", False)
    assert linked.access_announced() == [
        (f"billing:access:{PHONE}:1", True, "canceled"),
        (f"billing:access:{PHONE}:2", False, "canceled"),
    ]

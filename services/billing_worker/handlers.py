"""What each Stripe event does to billing: link customers, follow subscriptions, ask for texts.

The handler runs inside the event's unit of work (`BillingWork`): the inbox row, every change it
makes and every event it emits commit together or not at all, so it reads and decides as if it
were alone. Concurrent events on one account are write conflicts the transaction runs again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog

from services.billing_worker.domain.access import SubscriptionState, Verdict, subscription_verdict
from services.billing_worker.domain.messages import WELCOME, payment_failed_text, signup_link
from services.billing_worker.records import BillingAccount, CustomerAlreadyLinked, Outcome
from services.billing_worker.stripe_objects import (
    LinkHint,
    MalformedStripeObject,
    customer_id,
    link_hint,
    object_id,
    subscription_state,
)
from services.billing_worker.unit_of_work import BillingWork
from shared.broker import PermanentError
from shared.clock import Clock
from shared.events import Envelope, new_event
from shared.events.catalog import BillingAccessChanged, SmsOutboundRequested, StripeEventReceived
from shared.unit_of_work import StalePlan

log = structlog.get_logger(__name__)

CHECKOUT_COMPLETED = "checkout.session.completed"
SUBSCRIPTION_EVENTS = frozenset(
    {
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
    }
)
INVOICE_PAID = "invoice.paid"
INVOICE_PAYMENT_FAILED = "invoice.payment_failed"
HANDLED_TYPES = SUBSCRIPTION_EVENTS | {CHECKOUT_COMPLETED, INVOICE_PAID, INVOICE_PAYMENT_FAILED}


@dataclass(frozen=True)
class FreshSubscription:
    """A subscription as Stripe's API returned it, at least as new as `observed_at`."""

    state: SubscriptionState
    observed_at: datetime


@dataclass(frozen=True)
class SubscriptionPlan:
    """What was settled before the transaction (`refetch.py`): Stripe's copy of the event's
    subscription, if one was asked for, and — because whether to ask depends on it — when the
    change last applied to that subscription happened, as read then."""

    # The subscription the plan looked at; None when nothing was planned.
    subscription_id: str | None = None
    applied_at: datetime | None = None
    fresh: FreshSubscription | None = None


NO_PLAN = SubscriptionPlan()


@dataclass(frozen=True)
class BillingTexts:
    signup_url: str
    # Invoices remembered per account for one update-payment notice each.
    payment_notice_memory: int = 24


@dataclass
class _Step:
    """One handled event: its envelope, unit of work, time, and the accounts it changed."""

    event: Envelope[StripeEventReceived]
    uow: BillingWork
    now: datetime
    touched: list[str] = field(default_factory=list)

    def touch(self, phone: str) -> None:
        if phone not in self.touched:
            self.touched.append(phone)


async def announce_access(
    uow: BillingWork,
    phone: str,
    *,
    cause: str,
    now: datetime,
    caused_by: Envelope[Any] | None = None,
) -> bool:
    """Publish `billing.access.changed` if the account's access differs from what was last
    announced (no announcement means no access); True if it did."""
    account = await uow.accounts.get(phone)
    if account is None or account.has_access == account.access_announced:
        return False
    change = BillingAccessChanged(
        phone=phone,
        user_id=account.user_id,
        has_access=account.has_access,
        status=account.status or "none",
        current_period_end=account.current_period_end,
        changed_at=now,
    )
    await uow.emit(
        new_event(
            change,
            idempotency_key=f"billing:access:{phone}:{account.access_announcements + 1}",
            caused_by=caused_by,
        )
    )
    await uow.accounts.mark_announced(phone, account.has_access)
    log.info(
        "billing access changed", has_access=account.has_access, status=change.status, cause=cause
    )
    return True


class StripeEventHandler:
    def __init__(self, clock: Clock, texts: BillingTexts) -> None:
        self._clock = clock
        self._texts = texts

    async def handle(
        self,
        event: Envelope[StripeEventReceived],
        uow: BillingWork,
        plan: SubscriptionPlan = NO_PLAN,
    ) -> None:
        payload = event.payload
        step = _Step(event, uow, self._clock.now())
        started = await uow.stripe_events.begin(
            payload,
            envelope_id=str(event.id),
            customer_id=customer_id(payload.data_object),
            now=step.now,
        )
        if not started:
            log.info("stripe event already handled", stripe_event_id=payload.stripe_event_id)
            return
        try:
            outcome, phone = await self._route(payload, step, plan)
        except (MalformedStripeObject, CustomerAlreadyLinked) as error:
            raise PermanentError(str(error)) from error
        await uow.stripe_events.finish(payload.stripe_event_id, outcome, phone=phone, now=step.now)
        for touched in step.touched:
            await announce_access(
                uow, touched, cause=payload.stripe_event_id, now=step.now, caused_by=event
            )
        log.info(
            "stripe event handled",
            stripe_event_id=payload.stripe_event_id,
            stripe_type=payload.stripe_type,
            outcome=outcome.value,
        )

    async def _route(
        self, payload: StripeEventReceived, step: _Step, plan: SubscriptionPlan
    ) -> tuple[Outcome, str | None]:
        if payload.stripe_type == CHECKOUT_COMPLETED:
            return await self._checkout_completed(payload, step)
        if payload.stripe_type not in HANDLED_TYPES:
            return Outcome.IGNORED, None
        customer = customer_id(payload.data_object)
        if customer is None:
            log.warning("stripe event without a customer", stripe_event_id=payload.stripe_event_id)
            return Outcome.IGNORED, None
        phone = await self._resolve(customer, link_hint(payload.data_object), step, payload)
        if phone is None:
            # Kept, not dropped: applied when a checkout (or metadata) links the customer.
            await step.uow.customers.note_unlinked_event(customer, step.now)
            return Outcome.PENDING_LINK, None
        return await self._apply(payload, phone, step, plan), phone

    async def _resolve(
        self, customer: str, hint: LinkHint, step: _Step, payload: StripeEventReceived
    ) -> str | None:
        link = await step.uow.customers.get(customer)
        if link is not None and link.phone is not None:
            return link.phone
        phone = await self._phone_for(hint, step)
        if phone is not None:
            await self._link(customer, phone, hint.user_id, step, payload)
        return phone

    async def _phone_for(self, hint: LinkHint, step: _Step) -> str | None:
        if hint.phone is not None:
            return hint.phone
        if hint.user_id is not None:
            account = await step.uow.accounts.by_user_id(hint.user_id)
            if account is not None:
                return account.phone
        return None

    async def _link(
        self,
        customer: str,
        phone: str,
        user_id: str | None,
        step: _Step,
        payload: StripeEventReceived,
    ) -> None:
        """Link customer ↔ account, then apply what was kept waiting for this customer."""
        uow = step.uow
        await uow.customers.link(customer, phone, user_id=user_id, now=step.now)
        await uow.accounts.open(phone, user_id=user_id, customer_id=customer, now=step.now)
        step.touch(phone)
        for waiting in await uow.stripe_events.pending_for(customer):
            if waiting.stripe_event_id == payload.stripe_event_id:
                continue
            try:
                outcome = await self._apply(waiting, phone, step, NO_PLAN)
            except MalformedStripeObject:
                # Kept for the record; it must not block the link (the event being handled).
                outcome = Outcome.MALFORMED
            await uow.stripe_events.finish(
                waiting.stripe_event_id, outcome, phone=phone, now=step.now
            )
            log.info(
                "kept stripe event applied",
                stripe_event_id=waiting.stripe_event_id,
                outcome=outcome.value,
            )

    async def _apply(
        self, payload: StripeEventReceived, phone: str, step: _Step, plan: SubscriptionPlan
    ) -> Outcome:
        if payload.stripe_type in SUBSCRIPTION_EVENTS:
            return await self._subscription_changed(payload, phone, step, plan)
        if payload.stripe_type == INVOICE_PAID:
            return await self._invoice_paid(payload, phone, step)
        if payload.stripe_type == INVOICE_PAYMENT_FAILED:
            return await self._payment_failed(payload, phone, step)
        return Outcome.IGNORED

    async def _checkout_completed(
        self, payload: StripeEventReceived, step: _Step
    ) -> tuple[Outcome, str | None]:
        checkout_session = payload.data_object
        customer = customer_id(checkout_session)
        hint = link_hint(checkout_session)
        phone = await self._phone_for(hint, step)
        if phone is None and customer is not None:
            link = await step.uow.customers.get(customer)
            phone = link.phone if link is not None else None
        if phone is None or customer is None:
            log.warning(
                "checkout cannot be linked: no customer, or no phone/user id in metadata",
                stripe_event_id=payload.stripe_event_id,
            )
            return Outcome.UNLINKABLE, None
        await self._link(customer, phone, hint.user_id, step, payload)
        await self._welcome(phone, step)
        return Outcome.APPLIED, phone

    async def _welcome(self, phone: str, step: _Step) -> None:
        account = await _linked_account(step.uow, phone)
        if account.welcomed:
            return
        request = SmsOutboundRequested(
            to_number=phone, body=WELCOME, kind="billing", user_id=account.user_id
        )
        await step.uow.emit(
            new_event(request, idempotency_key=f"billing:welcome:{phone}", caused_by=step.event)
        )
        await step.uow.accounts.mark_welcomed(phone, step.now)

    async def _subscription_changed(
        self, payload: StripeEventReceived, phone: str, step: _Step, plan: SubscriptionPlan
    ) -> Outcome:
        subscription_id = object_id(payload.data_object.get("id"))
        account = await _linked_account(step.uow, phone)
        if plan.subscription_id is not None and plan.subscription_id == subscription_id:
            applied_at = (
                account.last_event_at if account.subscription_id == subscription_id else None
            )
            if applied_at != plan.applied_at:
                # Another change to this subscription landed since the plan read it: whether to
                # ask Stripe may now be decided differently.
                raise StalePlan("the subscription changed after the re-fetch was planned")
        fresh = plan.fresh
        if fresh is not None and fresh.state.subscription_id == subscription_id:
            state, observed_at = fresh.state, fresh.observed_at
        else:
            state, observed_at = subscription_state(payload.data_object), payload.created
        verdict = subscription_verdict(account.applied_subscription, state, observed_at, step.now)
        if verdict is Verdict.STALE:
            return Outcome.STALE
        if verdict is Verdict.OTHER_SUBSCRIPTION:
            return Outcome.OTHER_SUBSCRIPTION
        await step.uow.accounts.apply_subscription(
            account,
            state,
            observed_at=observed_at,
            event_id=payload.stripe_event_id,
            access=state.has_access(step.now),
            now=step.now,
        )
        step.touch(phone)
        return Outcome.APPLIED

    async def _invoice_paid(self, payload: StripeEventReceived, phone: str, step: _Step) -> Outcome:
        invoice_id = _invoice_id(payload.data_object)
        await step.uow.accounts.record_paid_invoice(phone, invoice_id, now=step.now)
        return Outcome.APPLIED

    async def _payment_failed(
        self, payload: StripeEventReceived, phone: str, step: _Step
    ) -> Outcome:
        invoice_id = _invoice_id(payload.data_object)
        account = await _linked_account(step.uow, phone)
        if invoice_id in account.payment_notice_invoices:
            return Outcome.APPLIED
        if invoice_id == account.last_paid_invoice_id:
            return Outcome.STALE  # paid meanwhile: no reason to worry the caregiver
        link = signup_link(self._texts.signup_url, phone)
        request = SmsOutboundRequested(
            to_number=phone, body=payment_failed_text(link), kind="billing", user_id=account.user_id
        )
        await step.uow.emit(
            new_event(
                request,
                idempotency_key=f"billing:payment-failed:{invoice_id}",
                caused_by=step.event,
            )
        )
        await step.uow.accounts.remember_payment_notice(
            phone, invoice_id, memory=self._texts.payment_notice_memory, now=step.now
        )
        return Outcome.APPLIED


class UnlinkedAccount(LookupError):
    """A linked customer whose account is missing: links and accounts are written in one
    transaction, so this is damaged data, left to the broker's retry and then the parking lot."""


async def _linked_account(uow: BillingWork, phone: str) -> BillingAccount:
    account = await uow.accounts.get(phone)
    if account is None:
        raise UnlinkedAccount("a linked customer's billing account is missing")
    return account


def _invoice_id(invoice: dict[str, Any]) -> str:
    invoice_id = object_id(invoice.get("id"))
    if invoice_id is None:
        raise MalformedStripeObject("invoice without an id")
    return invoice_id

"""What each Stripe event does to billing: link customers, follow subscriptions, ask for texts.

One handler runs inside the inbox's unit of work (a transaction when the deployment has them).
Every write is idempotent by Stripe event id or deterministic key, so a replay without
transactions is harmless; follow-up events are emitted *before* the marks that say they were
emitted, so a crash in between re-emits the same event id rather than losing it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog

from services.billing_worker.access import SubscriptionState, Verdict, subscription_verdict
from services.billing_worker.messages import WELCOME, payment_failed_text, signup_link
from services.billing_worker.store import (
    BillingAccount,
    BillingAccounts,
    BillingCustomers,
    BillingEvents,
    CustomerAlreadyLinked,
    Outcome,
)
from services.billing_worker.stripe_objects import (
    LinkHint,
    MalformedStripeObject,
    customer_id,
    link_hint,
    object_id,
    subscription_state,
)
from shared.broker import PermanentError
from shared.clock import Clock
from shared.events import Envelope, new_event
from shared.events.catalog import BillingAccessChanged, SmsOutboundRequested, StripeEventReceived
from shared.unit_of_work import UnitOfWork

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

# Concurrent changes to one account without transactions: re-read and retry this many times
# before handing the event back to the broker's retry.
_COMPARE_AND_SET_ATTEMPTS = 5


class AccountContention(Exception):
    """The account kept changing under this event; the consumer runtime retries it later."""


@dataclass(frozen=True)
class FreshSubscription:
    """A subscription as Stripe's API returned it, at least as new as `observed_at`."""

    state: SubscriptionState
    observed_at: datetime


@dataclass(frozen=True)
class BillingTexts:
    signup_url: str
    # Invoices remembered per account for one update-payment notice each.
    payment_notice_memory: int = 24


@dataclass
class _Step:
    """One handled event: its envelope, session, time, and the accounts it changed."""

    event: Envelope[StripeEventReceived]
    uow: UnitOfWork
    now: datetime
    touched: list[str] = field(default_factory=list)

    def touch(self, phone: str) -> None:
        if phone not in self.touched:
            self.touched.append(phone)


async def announce_access(
    accounts: BillingAccounts,
    uow: UnitOfWork,
    phone: str,
    *,
    cause: str,
    now: datetime,
    caused_by: Envelope[Any] | None = None,
) -> bool:
    """Publish `billing.access.changed` if the account's access differs from what was last
    announced (no announcement means no access); True if it did."""
    account = await accounts.get(phone, uow.session)
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
    await accounts.mark_announced(
        phone, account.has_access, account.access_announcements, uow.session
    )
    log.info(
        "billing access changed", has_access=account.has_access, status=change.status, cause=cause
    )
    return True


class StripeEventHandler:
    def __init__(
        self,
        accounts: BillingAccounts,
        customers: BillingCustomers,
        events: BillingEvents,
        clock: Clock,
        texts: BillingTexts,
    ) -> None:
        self._accounts = accounts
        self._customers = customers
        self._events = events
        self._clock = clock
        self._texts = texts

    async def handle(
        self,
        event: Envelope[StripeEventReceived],
        uow: UnitOfWork,
        fresh: FreshSubscription | None = None,
    ) -> None:
        payload = event.payload
        step = _Step(event, uow, self._clock.now())
        customer = customer_id(payload.data_object)
        started = await self._events.begin(
            payload,
            envelope_id=str(event.id),
            customer_id=customer,
            now=step.now,
            session=uow.session,
        )
        if not started:
            log.info("stripe event already handled", stripe_event_id=payload.stripe_event_id)
            return
        try:
            outcome, phone = await self._route(payload, step, fresh)
        except (MalformedStripeObject, CustomerAlreadyLinked) as error:
            raise PermanentError(str(error)) from error
        await self._events.finish(
            payload.stripe_event_id, outcome, phone=phone, now=step.now, session=uow.session
        )
        for touched in step.touched:
            await announce_access(
                self._accounts,
                uow,
                touched,
                cause=payload.stripe_event_id,
                now=step.now,
                caused_by=event,
            )
        log.info(
            "stripe event handled",
            stripe_event_id=payload.stripe_event_id,
            stripe_type=payload.stripe_type,
            outcome=outcome.value,
        )

    async def _route(
        self, payload: StripeEventReceived, step: _Step, fresh: FreshSubscription | None
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
            await self._customers.note_unlinked_event(customer, step.now, step.uow.session)
            return Outcome.PENDING_LINK, None
        return await self._apply(payload, phone, step, fresh), phone

    async def _resolve(
        self, customer: str, hint: LinkHint, step: _Step, payload: StripeEventReceived
    ) -> str | None:
        link = await self._customers.get(customer, step.uow.session)
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
            account = await self._accounts.by_user_id(hint.user_id, step.uow.session)
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
        session = step.uow.session
        await self._customers.link(customer, phone, user_id=user_id, now=step.now, session=session)
        await self._accounts.open(
            phone, user_id=user_id, customer_id=customer, now=step.now, session=session
        )
        step.touch(phone)
        for waiting in await self._events.pending_for(customer, session):
            if waiting.stripe_event_id == payload.stripe_event_id:
                continue
            try:
                outcome = await self._apply(waiting, phone, step, None)
            except MalformedStripeObject:
                # Kept for the record; it must not block the link (the event being handled).
                outcome = Outcome.MALFORMED
            await self._events.finish(
                waiting.stripe_event_id, outcome, phone=phone, now=step.now, session=session
            )
            log.info(
                "kept stripe event applied",
                stripe_event_id=waiting.stripe_event_id,
                outcome=outcome.value,
            )

    async def _apply(
        self,
        payload: StripeEventReceived,
        phone: str,
        step: _Step,
        fresh: FreshSubscription | None,
    ) -> Outcome:
        if payload.stripe_type in SUBSCRIPTION_EVENTS:
            return await self._subscription_changed(payload, phone, step, fresh)
        if payload.stripe_type == INVOICE_PAID:
            return await self._invoice_paid(payload, phone, step)
        if payload.stripe_type == INVOICE_PAYMENT_FAILED:
            return await self._payment_failed(payload, phone, step)
        return Outcome.IGNORED

    async def _checkout_completed(
        self, payload: StripeEventReceived, step: _Step
    ) -> tuple[Outcome, str | None]:
        session = payload.data_object
        customer = customer_id(session)
        hint = link_hint(session)
        phone = await self._phone_for(hint, step)
        if phone is None and customer is not None:
            link = await self._customers.get(customer, step.uow.session)
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
        account = await self._account(phone, step)
        if account.welcomed:
            return
        request = SmsOutboundRequested(
            to_number=phone, body=WELCOME, kind="billing", user_id=account.user_id
        )
        await step.uow.emit(
            new_event(request, idempotency_key=f"billing:welcome:{phone}", caused_by=step.event)
        )
        await self._accounts.mark_welcomed(phone, step.now, step.uow.session)

    async def _subscription_changed(
        self,
        payload: StripeEventReceived,
        phone: str,
        step: _Step,
        fresh: FreshSubscription | None,
    ) -> Outcome:
        subscription_id = object_id(payload.data_object.get("id"))
        if fresh is not None and fresh.state.subscription_id == subscription_id:
            state, observed_at = fresh.state, fresh.observed_at
        else:
            state, observed_at = subscription_state(payload.data_object), payload.created
        for _ in range(_COMPARE_AND_SET_ATTEMPTS):
            account = await self._account(phone, step)
            verdict = subscription_verdict(
                account.applied_subscription, state, observed_at, step.now
            )
            if verdict is Verdict.STALE:
                return Outcome.STALE
            if verdict is Verdict.OTHER_SUBSCRIPTION:
                return Outcome.OTHER_SUBSCRIPTION
            applied = await self._accounts.apply_subscription(
                account,
                state,
                observed_at=observed_at,
                event_id=payload.stripe_event_id,
                access=state.has_access(step.now),
                now=step.now,
                session=step.uow.session,
            )
            if applied:
                step.touch(phone)
                return Outcome.APPLIED
        raise AccountContention("billing account changed concurrently; retrying the event")

    async def _invoice_paid(self, payload: StripeEventReceived, phone: str, step: _Step) -> Outcome:
        invoice_id = _invoice_id(payload.data_object)
        await self._accounts.record_paid_invoice(
            phone, invoice_id, now=step.now, session=step.uow.session
        )
        return Outcome.APPLIED

    async def _payment_failed(
        self, payload: StripeEventReceived, phone: str, step: _Step
    ) -> Outcome:
        invoice_id = _invoice_id(payload.data_object)
        account = await self._account(phone, step)
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
        await self._accounts.remember_payment_notice(
            phone,
            invoice_id,
            memory=self._texts.payment_notice_memory,
            now=step.now,
            session=step.uow.session,
        )
        return Outcome.APPLIED

    async def _account(self, phone: str, step: _Step) -> BillingAccount:
        account = await self._accounts.get(phone, step.uow.session)
        if account is None:
            # The link exists but the account does not: a crash between the two writes without
            # transactions. The link names the account, so create it now.
            await self._accounts.open(
                phone, user_id=None, customer_id=None, now=step.now, session=step.uow.session
            )
            account = await self._accounts.get(phone, step.uow.session)
            assert account is not None
        return account


def _invoice_id(invoice: dict[str, Any]) -> str:
    invoice_id = object_id(invoice.get("id"))
    if invoice_id is None:
        raise MalformedStripeObject("invoice without an id")
    return invoice_id

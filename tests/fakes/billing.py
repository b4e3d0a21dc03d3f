"""Billing's unit of work in memory: the repositories of `services/billing_worker/unit_of_work.py`
over dicts, for handler tests that run in milliseconds.

They keep the Mongo repositories' rules — one account per phone and per Stripe customer, the
version compare-and-set, one row per Stripe event, kept events oldest first — and
`tests/integration/billing_worker/test_*_contract.py` runs the same assertions against both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from services.billing_worker.domain.access import SubscriptionState
from services.billing_worker.records import (
    OPEN_OUTCOMES,
    AccountChanged,
    BillingAccount,
    CustomerAlreadyLinked,
    CustomerLink,
    OperatorRequestOutcome,
    Outcome,
    ReconcileReport,
    ReconcileState,
)
from shared.events.catalog import StripeEventReceived
from tests.fakes.unit_of_work import FakeUnitOfWork


class FakeAccounts:
    def __init__(self) -> None:
        self.rows: dict[str, BillingAccount] = {}
        # The Stripe customer each account points at (unique, as the `customer_unique` index).
        self.customer_of: dict[str, str] = {}

    async def get(self, phone: str) -> BillingAccount | None:
        return self.rows.get(phone)

    async def by_user_id(self, user_id: str) -> BillingAccount | None:
        return next((a for a in self.rows.values() if a.user_id == user_id), None)

    async def by_subscription(self, subscription_id: str) -> BillingAccount | None:
        return next((a for a in self.rows.values() if a.subscription_id == subscription_id), None)

    async def open(
        self, phone: str, *, user_id: str | None, customer_id: str | None, now: datetime
    ) -> None:
        if customer_id is not None:
            holder = next((p for p, c in self.customer_of.items() if c == customer_id), phone)
            if holder != phone:
                raise CustomerAlreadyLinked(f"customer {customer_id} belongs to another account")
            self.customer_of[phone] = customer_id
        account = self.rows.get(phone) or _new_account(phone)
        self.rows[phone] = replace(
            account,
            version=account.version + 1,
            user_id=user_id if user_id is not None else account.user_id,
        )

    async def apply_subscription(
        self,
        account: BillingAccount,
        state: SubscriptionState,
        *,
        observed_at: datetime,
        event_id: str,
        access: bool,
        now: datetime,
    ) -> None:
        self._compare_and_set(
            account,
            lambda current: replace(
                current,
                subscription_id=state.subscription_id,
                status=state.status,
                current_period_end=state.current_period_end,
                last_event_at=observed_at,
                has_access=access,
            ),
        )

    async def set_access(self, account: BillingAccount, access: bool, *, now: datetime) -> None:
        self._compare_and_set(account, lambda current: replace(current, has_access=access))

    async def mark_announced(self, phone: str, access: bool) -> None:
        if (account := self.rows.get(phone)) is not None:
            self.rows[phone] = replace(
                account,
                access_announced=access,
                access_announcements=account.access_announcements + 1,
            )

    async def mark_welcomed(self, phone: str, now: datetime) -> None:
        if (account := self.rows.get(phone)) is not None:
            self.rows[phone] = replace(account, welcomed=True)

    async def remember_payment_notice(
        self, phone: str, invoice_id: str, *, memory: int, now: datetime
    ) -> None:
        account = self.rows.get(phone)
        if account is not None and invoice_id not in account.payment_notice_invoices:
            invoices = (*account.payment_notice_invoices, invoice_id)[-memory:]
            self.rows[phone] = replace(account, payment_notice_invoices=invoices)

    async def record_paid_invoice(self, phone: str, invoice_id: str, *, now: datetime) -> None:
        if (account := self.rows.get(phone)) is not None:
            self.rows[phone] = replace(account, last_paid_invoice_id=invoice_id)

    async def access_expired(self, now: datetime, limit: int = 500) -> list[str]:
        due = [
            a
            for a in self.rows.values()
            if a.status == "canceled"
            and a.has_access
            and a.current_period_end is not None
            and a.current_period_end <= now
        ]
        return [a.phone for a in due[:limit]]

    def _compare_and_set(
        self, account: BillingAccount, change: Callable[[BillingAccount], BillingAccount]
    ) -> None:
        current = self.rows.get(account.phone)
        if current is None or current.version != account.version:
            raise AccountChanged(f"billing account changed since version {account.version}")
        self.rows[account.phone] = replace(change(current), version=current.version + 1)


def _new_account(phone: str) -> BillingAccount:
    """What `open` inserts before its own changes (the Mongo upsert's `$setOnInsert`)."""
    return BillingAccount(
        phone=phone,
        version=0,
        user_id=None,
        subscription_id=None,
        status=None,
        current_period_end=None,
        last_event_at=None,
        has_access=False,
        access_announced=False,
        access_announcements=0,
        welcomed=False,
        payment_notice_invoices=(),
        last_paid_invoice_id=None,
    )


class FakeCustomers:
    def __init__(self) -> None:
        self.rows: dict[str, CustomerLink] = {}

    async def get(self, customer_id: str) -> CustomerLink | None:
        return self.rows.get(customer_id)

    async def link(
        self, customer_id: str, phone: str, *, user_id: str | None, now: datetime
    ) -> bool:
        existing = self.rows.get(customer_id)
        if existing is not None and existing.phone not in (None, phone):
            raise CustomerAlreadyLinked(f"customer {customer_id} belongs to another account")
        self.rows[customer_id] = CustomerLink(customer_id, phone, user_id)
        return existing is None or existing.phone is None

    async def note_unlinked_event(self, customer_id: str, now: datetime) -> None:
        self.rows.setdefault(customer_id, CustomerLink(customer_id, None, None))


@dataclass
class StoredStripeEvent:
    payload: StripeEventReceived
    customer_id: str | None
    envelope_id: str
    outcome: Outcome = Outcome.RECEIVED
    phone: str | None = None


class FakeStripeEvents:
    def __init__(self) -> None:
        self.rows: dict[str, StoredStripeEvent] = {}

    async def begin(
        self,
        payload: StripeEventReceived,
        *,
        envelope_id: str,
        customer_id: str | None,
        now: datetime,
    ) -> bool:
        existing = self.rows.get(payload.stripe_event_id)
        if existing is not None:
            return existing.outcome in OPEN_OUTCOMES
        self.rows[payload.stripe_event_id] = StoredStripeEvent(payload, customer_id, envelope_id)
        return True

    async def finish(
        self, stripe_event_id: str, outcome: Outcome, *, phone: str | None, now: datetime
    ) -> None:
        if (stored := self.rows.get(stripe_event_id)) is not None:
            stored.outcome, stored.phone = outcome, phone

    async def pending_for(self, customer_id: str) -> list[StripeEventReceived]:
        kept = [
            stored.payload
            for stored in self.rows.values()
            if stored.customer_id == customer_id and stored.outcome is Outcome.PENDING_LINK
        ]
        return sorted(kept, key=lambda payload: (payload.created, payload.stripe_event_id))

    async def received(self, stripe_event_ids: Iterable[str]) -> set[str]:
        return set(stripe_event_ids) & self.rows.keys()

    async def outcome(self, stripe_event_id: str) -> Outcome | None:
        stored = self.rows.get(stripe_event_id)
        return stored.outcome if stored is not None else None


class FakeOperatorRequests:
    """Operators' requests' outcomes in memory, written once each like the Mongo repository."""

    def __init__(self) -> None:
        self.rows: dict[str, OperatorRequestOutcome] = {}

    async def record(self, outcome: OperatorRequestOutcome) -> None:
        self.rows.setdefault(outcome.request_id, outcome)

    async def get(self, request_id: str) -> OperatorRequestOutcome | None:
        return self.rows.get(request_id)


class FakeBillingWork(FakeUnitOfWork):
    """Satisfies `BillingWork` (the handlers' view) and `BillingTransactions` (`run`)."""

    def __init__(self) -> None:
        super().__init__()
        self.accounts = FakeAccounts()
        self.customers = FakeCustomers()
        self.stripe_events = FakeStripeEvents()
        self.operator_requests = FakeOperatorRequests()


class OutsideReads:
    """The fake's accounts as code outside any event reads them (the re-fetch's hint, the expiry
    sweep's scan). Always through the unit: `run` puts fresh repositories in place when it rolls
    back, so a repository taken earlier would show the rolled-back writes."""

    def __init__(self, uow: FakeBillingWork) -> None:
        self._uow = uow

    async def get(self, phone: str) -> BillingAccount | None:
        return await self._uow.accounts.get(phone)

    async def by_subscription(self, subscription_id: str) -> BillingAccount | None:
        return await self._uow.accounts.by_subscription(subscription_id)

    async def access_expired(self, now: datetime, limit: int = 500) -> list[str]:
        return await self._uow.accounts.access_expired(now, limit)


class FakeReconcileRuns:
    """The scheduled reconcile's document in memory, with `store.MongoReconcileRuns`' rules: a
    claim holds only if the lease is free and nobody finished a run since the caller's read;
    only the holder records or frees it."""

    def __init__(self) -> None:
        self.row = ReconcileState()
        self.reports: list[ReconcileReport] = []

    async def state(self) -> ReconcileState:
        return self.row

    async def claim(
        self, holder: str, *, covered_until: datetime | None, now: datetime, until: datetime
    ) -> bool:
        row = self.row
        if row.covered_until != covered_until:
            return False
        if row.lease_until is not None and row.lease_until > now:
            return False
        self.row = replace(row, holder=holder, lease_until=until)
        return True

    async def succeeded(
        self,
        holder: str,
        *,
        covered_until: datetime,
        finished_at: datetime,
        report: ReconcileReport,
    ) -> bool:
        if self.row.holder != holder:
            return False
        self.row = ReconcileState(covered_until, finished_at, None, finished_at)
        self.reports.append(report)
        return True

    async def failed(self, holder: str, *, retry_at: datetime, error: str) -> None:
        if self.row.holder == holder:
            self.row = replace(self.row, holder=None, lease_until=retry_at)

"""Billing's unit of work: what its handlers may touch, and the Mongo transaction behind it.

Handlers take `BillingWork` — three repositories and `emit` — and never a session: the Mongo
unit builds its repositories on the transaction's session, so every write they make commits
(or not) with the inbox row and the emitted events. `tests/fakes/billing.py` is the in-memory
twin; `tests/integration/billing_worker/test_*_contract.py` hold the two to the same behaviour.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Protocol, TypeVar

from pymongo.asynchronous.client_session import AsyncClientSession

from services.billing_worker.domain.access import SubscriptionState
from services.billing_worker.records import (
    BillingAccount,
    CustomerLink,
    OperatorRequestOutcome,
    Outcome,
)
from services.billing_worker.store import (
    MongoAccounts,
    MongoCustomers,
    MongoOperatorRequests,
    MongoStripeEvents,
)
from shared.events.catalog import StripeEventReceived
from shared.mongo import Database
from shared.outbox import Outbox
from shared.unit_of_work import Emits, UnitOfWork, UnitOfWorkFactory

_T = TypeVar("_T")


class AccountReads(Protocol):
    """What code outside any event reads: the re-fetch's hint and the expiry sweep's scan."""

    async def get(self, phone: str) -> BillingAccount | None: ...

    async def by_subscription(self, subscription_id: str) -> BillingAccount | None: ...

    async def access_expired(self, now: datetime, limit: int = 500) -> list[str]:
        """Phones of canceled accounts that still have access although their period ended."""
        ...


class Accounts(AccountReads, Protocol):
    """One billing account per caregiver, keyed by E.164 phone."""

    async def by_user_id(self, user_id: str) -> BillingAccount | None: ...

    async def open(
        self, phone: str, *, user_id: str | None, customer_id: str | None, now: datetime
    ) -> None:
        """Create the account (no access yet) or point it at this customer; a customer that
        another account holds raises `CustomerAlreadyLinked`."""
        ...

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
        """Follow `state` as observed at `observed_at`; `AccountChanged` if `account` is not
        the latest version."""
        ...

    async def set_access(self, account: BillingAccount, access: bool, *, now: datetime) -> None:
        """`AccountChanged` if `account` is not the latest version."""
        ...

    async def mark_announced(self, phone: str, access: bool) -> None:
        """Record that `access` was announced, as the next announcement."""
        ...

    async def mark_welcomed(self, phone: str, now: datetime) -> None: ...

    async def remember_payment_notice(
        self, phone: str, invoice_id: str, *, memory: int, now: datetime
    ) -> None:
        """Keep `invoice_id` among the last `memory` invoices a notice went out for."""
        ...

    async def record_paid_invoice(self, phone: str, invoice_id: str, *, now: datetime) -> None: ...


class Customers(Protocol):
    """Stripe customer → caregiver: the link."""

    async def get(self, customer_id: str) -> CustomerLink | None: ...

    async def link(
        self, customer_id: str, phone: str, *, user_id: str | None, now: datetime
    ) -> bool:
        """Link the customer to `phone`; True if the link is new. Raises `CustomerAlreadyLinked`."""
        ...

    async def note_unlinked_event(self, customer_id: str, now: datetime) -> None:
        """Count an event kept for later. The write is the point: a transaction keeping an event
        for this customer and one linking it both write the customer, so they conflict and
        one runs again, instead of the link missing the kept event."""
        ...


class StripeEvents(Protocol):
    """Every Stripe event once, by its Stripe id, with what became of it."""

    async def begin(
        self,
        payload: StripeEventReceived,
        *,
        envelope_id: str,
        customer_id: str | None,
        now: datetime,
    ) -> bool:
        """Record the event; False when it was already dealt with (same Stripe id, any
        envelope)."""
        ...

    async def finish(
        self, stripe_event_id: str, outcome: Outcome, *, phone: str | None, now: datetime
    ) -> None: ...

    async def pending_for(self, customer_id: str) -> list[StripeEventReceived]:
        """Events kept until this customer was linked, oldest first."""
        ...


class OperatorRequests(Protocol):
    """`store.MongoOperatorRequests`: what became of operators' requests, written once each."""

    async def record(self, outcome: OperatorRequestOutcome) -> None: ...

    async def get(self, request_id: str) -> OperatorRequestOutcome | None: ...


class BillingWork(Emits, Protocol):
    """What billing's handlers may touch inside one event's transaction (read-only members, so
    the Mongo unit and the fake may each hold their own repository classes)."""

    @property
    def accounts(self) -> Accounts: ...

    @property
    def customers(self) -> Customers: ...

    @property
    def stripe_events(self) -> StripeEvents: ...

    @property
    def operator_requests(self) -> OperatorRequests: ...


class BillingTransactions(Protocol):
    """Runs a body in its own billing unit of work (`Transactions`, or the fake's `run`)."""

    async def run(self, body: Callable[[BillingWork], Awaitable[_T]]) -> _T: ...


class MongoBillingWork(UnitOfWork):
    """Billing's repositories, all bound to one transaction's session."""

    def __init__(self, db: Database, session: AsyncClientSession, outbox: Outbox) -> None:
        super().__init__(session, outbox)
        self.accounts = MongoAccounts(db, session)
        self.customers = MongoCustomers(db, session)
        self.stripe_events = MongoStripeEvents(db, session)
        self.operator_requests = MongoOperatorRequests(db, session)


def billing_work(db: Database) -> UnitOfWorkFactory[MongoBillingWork]:
    """The factory `runtime.transactions(...)` builds each event's unit of work with."""

    def build(session: AsyncClientSession, outbox: Outbox) -> MongoBillingWork:
        return MongoBillingWork(db, session, outbox)

    return build

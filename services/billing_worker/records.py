"""What billing's repositories take and return: plain records, no storage in sight.

Handlers, the Mongo repositories (`store.py`) and the in-memory fakes all speak these, so a
handler's unit test and production read the same shapes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal

from services.billing_worker.domain.access import AppliedSubscription
from shared.unit_of_work import StalePlan


class Outcome(StrEnum):
    """What became of a Stripe event; every outcome but `received` and `pending_link` is final."""

    RECEIVED = "received"
    APPLIED = "applied"
    STALE = "stale"
    OTHER_SUBSCRIPTION = "other_subscription"
    PENDING_LINK = "pending_link"
    UNLINKABLE = "unlinkable"
    IGNORED = "ignored"
    # Kept for a link, then found unusable (e.g. a subscription without a status).
    MALFORMED = "malformed"


OPEN_OUTCOMES = frozenset({Outcome.RECEIVED, Outcome.PENDING_LINK})


@dataclass(frozen=True)
class BillingAccount:
    phone: str
    # Bumped by every subscription or access change; the compare-and-set of those writes.
    version: int
    user_id: str | None
    subscription_id: str | None
    status: str | None
    current_period_end: datetime | None
    last_event_at: datetime | None
    has_access: bool
    access_announced: bool
    # How many access changes were announced: numbers the next one, so each flip has an
    # idempotency key of its own and a transaction that runs again reuses it.
    access_announcements: int
    welcomed: bool
    payment_notice_invoices: tuple[str, ...]
    last_paid_invoice_id: str | None

    @property
    def applied_subscription(self) -> AppliedSubscription | None:
        if self.subscription_id is None or self.last_event_at is None:
            return None
        return AppliedSubscription(self.subscription_id, self.last_event_at, self.has_access)


@dataclass(frozen=True)
class CustomerLink:
    """A Stripe customer and the caregiver it belongs to (`phone` None: seen, not linked yet)."""

    customer_id: str
    phone: str | None
    user_id: str | None


class CustomerAlreadyLinked(Exception):
    """A Stripe customer that belongs to one phone cannot be linked to another."""


class AccountChanged(StalePlan):
    """The account was written since the record in hand was read.

    Within one transaction this cannot happen (the read and the write see one snapshot, and a
    concurrent writer is a write conflict that runs the transaction again); it fires when the
    record came from elsewhere. It is a `StalePlan`, so a planned handler plans again and the
    broker's retry takes any other caller.
    """


@dataclass(frozen=True)
class ImportedAccount:
    """A caregiver's subscription as the legacy app left it, for a data migration
    (`MongoAccounts.insert_migrated`). `welcomed_at` and `access_announced` say which messages
    the legacy app already sent, so the worker does not send them again."""

    phone: str
    user_id: str
    customer_id: str | None
    subscription_id: str | None
    status: str | None
    current_period_end: datetime | None
    cancel_at_period_end: bool
    canceled_at: datetime | None
    trial_end: datetime | None
    has_access: bool
    access_announced: bool
    welcomed_at: datetime | None
    created_at: datetime


@dataclass(frozen=True)
class ReconcileReport:
    """One reconcile: Stripe events listed, those already recorded, those fed to the worker."""

    listed: int
    already_received: int
    fed: int


@dataclass(frozen=True)
class ReconcileState:
    """The scheduled reconcile as stored: how far it has covered, and who runs it now."""

    # The start of the last successful run: every event created before it was listed then.
    covered_until: datetime | None = None
    # When that run finished.
    succeeded_at: datetime | None = None
    holder: str | None = None
    lease_until: datetime | None = None


@dataclass(frozen=True)
class OperatorRequestOutcome:
    """What billing made of an operator's request from the admin API (`request_id`): a
    reconcile's report or a Checkout link, or why it could not (`error`, never a phone
    number). Read by the admin through `BillingViews.operator_request`."""

    request_id: str
    kind: Literal["reconcile", "checkout_link"]
    status: Literal["done", "failed"]
    requested_by: str
    requested_at: datetime
    finished_at: datetime
    reconcile: ReconcileReport | None = None
    checkout_url: str | None = None
    checkout_session_id: str | None = None
    error: str | None = None

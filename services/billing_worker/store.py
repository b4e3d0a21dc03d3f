"""The billing worker's collections and every query it makes of them, with their indexes.

`billing_accounts` (one per caregiver, keyed by E.164 phone), `billing_customers` (Stripe
customer → phone: the link, and the document both sides of a link race write, so transactions
conflict instead of stranding an event) and `billing_events` (every Stripe event once, by its id).
Every write takes the caller's session; account changes are compare-and-set on a version.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.client_session import AsyncClientSession

from services.billing_worker.access import AppliedSubscription, SubscriptionState
from shared.events.catalog import StripeEventReceived
from shared.mongo import Database, Document, IndexDeclarations

ACCOUNTS = "billing_accounts"
CUSTOMERS = "billing_customers"
EVENTS = "billing_events"

Session = AsyncClientSession | None

BILLING_INDEXES: IndexDeclarations = {
    ACCOUNTS: [
        IndexModel(
            [("stripe_customer_id", ASCENDING)], name="customer_unique", unique=True, sparse=True
        ),
        IndexModel([("user_id", ASCENDING)], name="user", sparse=True),
        IndexModel([("subscription_id", ASCENDING)], name="subscription", sparse=True),
        IndexModel(
            [("status", ASCENDING), ("has_access", ASCENDING), ("current_period_end", ASCENDING)],
            name="access_expiry",
        ),
    ],
    EVENTS: [
        IndexModel(
            [("customer", ASCENDING), ("status", ASCENDING), ("created", ASCENDING)],
            name="pending_by_customer",
        ),
        IndexModel([("created", ASCENDING)], name="created"),
    ],
}


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


_OPEN = (Outcome.RECEIVED, Outcome.PENDING_LINK)


@dataclass(frozen=True)
class BillingAccount:
    phone: str
    version: int
    user_id: str | None
    subscription_id: str | None
    status: str | None
    current_period_end: datetime | None
    last_event_at: datetime | None
    has_access: bool
    access_announced: bool
    # How many access changes were announced: names the next one, so racing handlers that
    # saw the same state announce it under one idempotency key.
    access_announcements: int
    welcomed: bool
    payment_notice_invoices: tuple[str, ...]
    last_paid_invoice_id: str | None

    @classmethod
    def from_document(cls, doc: Document) -> BillingAccount:
        return cls(
            phone=doc["_id"],
            version=doc.get("version", 0),
            user_id=doc.get("user_id"),
            subscription_id=doc.get("subscription_id"),
            status=doc.get("status"),
            current_period_end=doc.get("current_period_end"),
            last_event_at=doc.get("last_event_at"),
            has_access=bool(doc.get("has_access", False)),
            access_announced=bool(doc.get("access_announced", False)),
            access_announcements=int(doc.get("access_announcements", 0)),
            welcomed=doc.get("welcomed_at") is not None,
            payment_notice_invoices=tuple(doc.get("payment_notice_invoices", ())),
            last_paid_invoice_id=doc.get("last_paid_invoice_id"),
        )

    @property
    def applied_subscription(self) -> AppliedSubscription | None:
        if self.subscription_id is None or self.last_event_at is None:
            return None
        return AppliedSubscription(self.subscription_id, self.last_event_at, self.has_access)


class BillingAccounts:
    def __init__(self, db: Database) -> None:
        self._collection = db[ACCOUNTS]

    async def get(self, phone: str, session: Session = None) -> BillingAccount | None:
        doc = await self._collection.find_one({"_id": phone}, session=session)
        return BillingAccount.from_document(doc) if doc is not None else None

    async def by_user_id(self, user_id: str, session: Session = None) -> BillingAccount | None:
        doc = await self._collection.find_one({"user_id": user_id}, session=session)
        return BillingAccount.from_document(doc) if doc is not None else None

    async def by_subscription(self, subscription_id: str) -> BillingAccount | None:
        doc = await self._collection.find_one({"subscription_id": subscription_id})
        return BillingAccount.from_document(doc) if doc is not None else None

    async def open(
        self,
        phone: str,
        *,
        user_id: str | None,
        customer_id: str | None,
        now: datetime,
        session: Session,
    ) -> None:
        """Create the account (no access yet) or point it at this customer."""
        changes: dict[str, Any] = {"updated_at": now}
        if customer_id is not None:
            changes["stripe_customer_id"] = customer_id
        if user_id is not None:
            changes["user_id"] = user_id
        await self._collection.update_one(
            {"_id": phone},
            {
                "$set": changes,
                "$setOnInsert": {"created_at": now, "has_access": False, "access_announced": False},
                "$inc": {"version": 1},
            },
            upsert=True,
            session=session,
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
        session: Session,
    ) -> bool:
        """Replace the subscription state if the account is still as read; False if it moved."""
        return await self._compare_and_set(
            account,
            {
                "subscription_id": state.subscription_id,
                "status": state.status,
                "current_period_end": state.current_period_end,
                "cancel_at_period_end": state.cancel_at_period_end,
                "canceled_at": state.canceled_at,
                "trial_end": state.trial_end,
                "last_event_at": observed_at,
                "last_event_id": event_id,
                "has_access": access,
                "updated_at": now,
            },
            session,
        )

    async def set_access(
        self, account: BillingAccount, access: bool, *, now: datetime, session: Session
    ) -> bool:
        return await self._compare_and_set(
            account, {"has_access": access, "updated_at": now}, session
        )

    async def _compare_and_set(
        self, account: BillingAccount, changes: Document, session: Session
    ) -> bool:
        result = await self._collection.update_one(
            {"_id": account.phone, "version": account.version},
            {"$set": changes, "$inc": {"version": 1}},
            session=session,
        )
        return result.matched_count == 1

    async def mark_announced(
        self, phone: str, access: bool, announcements: int, session: Session
    ) -> None:
        """Record announcement number `announcements + 1`, unless a racing handler already did
        (its event had the same idempotency key, so only one went out)."""
        seen: object = {"$in": [None, 0]} if announcements == 0 else announcements
        await self._collection.update_one(
            {"_id": phone, "access_announcements": seen},
            {"$set": {"access_announced": access}, "$inc": {"access_announcements": 1}},
            session=session,
        )

    async def mark_welcomed(self, phone: str, now: datetime, session: Session) -> None:
        await self._collection.update_one(
            {"_id": phone, "welcomed_at": None}, {"$set": {"welcomed_at": now}}, session=session
        )

    async def remember_payment_notice(
        self, phone: str, invoice_id: str, *, memory: int, now: datetime, session: Session
    ) -> None:
        await self._collection.update_one(
            {"_id": phone, "payment_notice_invoices": {"$ne": invoice_id}},
            {
                "$push": {"payment_notice_invoices": {"$each": [invoice_id], "$slice": -memory}},
                "$set": {"last_payment_failed_at": now},
            },
            session=session,
        )

    async def record_paid_invoice(
        self, phone: str, invoice_id: str, *, now: datetime, session: Session
    ) -> None:
        await self._collection.update_one(
            {"_id": phone},
            {"$set": {"last_paid_invoice_id": invoice_id, "last_paid_at": now}},
            session=session,
        )

    async def access_expired(self, now: datetime, limit: int = 500) -> list[str]:
        """Phones of canceled accounts that still have access although their period ended."""
        query = {"status": "canceled", "has_access": True, "current_period_end": {"$lte": now}}
        return [doc["_id"] async for doc in self._collection.find(query, {"_id": 1}).limit(limit)]


@dataclass(frozen=True)
class CustomerLink:
    customer_id: str
    phone: str | None
    user_id: str | None


class CustomerAlreadyLinked(Exception):
    """A Stripe customer that belongs to one phone cannot be linked to another."""


class BillingCustomers:
    def __init__(self, db: Database) -> None:
        self._collection = db[CUSTOMERS]

    async def get(self, customer_id: str, session: Session) -> CustomerLink | None:
        doc = await self._collection.find_one({"_id": customer_id}, session=session)
        if doc is None:
            return None
        return CustomerLink(customer_id, doc.get("phone"), doc.get("user_id"))

    async def link(
        self,
        customer_id: str,
        phone: str,
        *,
        user_id: str | None,
        now: datetime,
        session: Session,
    ) -> bool:
        """Link the customer to `phone`; True if the link is new. Raises `CustomerAlreadyLinked`."""
        existing = await self.get(customer_id, session)
        if existing is not None and existing.phone not in (None, phone):
            raise CustomerAlreadyLinked(f"customer {customer_id} belongs to another account")
        await self._collection.update_one(
            {"_id": customer_id},
            {
                "$set": {"phone": phone, "user_id": user_id, "linked_at": now},
                "$inc": {"writes": 1},
            },
            upsert=True,
            session=session,
        )
        return existing is None or existing.phone is None

    async def note_unlinked_event(self, customer_id: str, now: datetime, session: Session) -> None:
        """Count an event kept for later; the write makes a concurrent link conflict with it."""
        await self._collection.update_one(
            {"_id": customer_id},
            {"$inc": {"writes": 1, "unlinked_events": 1}, "$set": {"last_unlinked_at": now}},
            upsert=True,
            session=session,
        )


class BillingEvents:
    def __init__(self, db: Database) -> None:
        self._collection = db[EVENTS]

    async def begin(
        self,
        payload: StripeEventReceived,
        *,
        envelope_id: str,
        customer_id: str | None,
        now: datetime,
        session: Session,
    ) -> bool:
        """Record the event; False when it was already dealt with (same Stripe id, any envelope)."""
        existing = await self._collection.find_one(
            {"_id": payload.stripe_event_id}, {"status": 1}, session=session
        )
        if existing is not None:
            return existing["status"] in _OPEN
        await self._collection.update_one(
            {"_id": payload.stripe_event_id},
            {
                "$setOnInsert": {
                    "type": payload.stripe_type,
                    "created": payload.created,
                    "livemode": payload.livemode,
                    "api_version": payload.api_version,
                    "customer": customer_id,
                    # JSON text: Stripe objects may carry keys MongoDB field names cannot.
                    "data_object": json.dumps(payload.data_object),
                    "previous_attributes": json.dumps(payload.previous_attributes),
                    "received_at": payload.received_at,
                    "envelope_id": envelope_id,
                    "recorded_at": now,
                    "status": Outcome.RECEIVED.value,
                }
            },
            upsert=True,
            session=session,
        )
        return True

    async def finish(
        self,
        stripe_event_id: str,
        outcome: Outcome,
        *,
        phone: str | None,
        now: datetime,
        session: Session,
    ) -> None:
        await self._collection.update_one(
            {"_id": stripe_event_id},
            {"$set": {"status": outcome.value, "phone": phone, "processed_at": now}},
            session=session,
        )

    async def pending_for(self, customer_id: str, session: Session) -> list[StripeEventReceived]:
        """Events kept until this customer was linked, oldest first."""
        cursor = self._collection.find(
            {"customer": customer_id, "status": Outcome.PENDING_LINK.value}, session=session
        ).sort([("created", ASCENDING), ("_id", ASCENDING)])
        return [_payload(doc) async for doc in cursor]

    async def received(self, stripe_event_ids: Iterable[str]) -> set[str]:
        ids = list(stripe_event_ids)
        cursor = self._collection.find({"_id": {"$in": ids}}, {"_id": 1})
        return {doc["_id"] async for doc in cursor}


def _payload(doc: Document) -> StripeEventReceived:
    return StripeEventReceived(
        stripe_event_id=doc["_id"],
        stripe_type=doc["type"],
        created=doc["created"],
        livemode=doc.get("livemode", False),
        api_version=doc.get("api_version"),
        data_object=json.loads(doc["data_object"]),
        previous_attributes=json.loads(doc.get("previous_attributes") or "null"),
        received_at=doc["received_at"],
    )

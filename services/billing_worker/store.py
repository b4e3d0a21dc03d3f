"""The billing worker's collections, their indexes, and the Mongo repositories over them.

`billing_accounts` (one per caregiver, keyed by E.164 phone), `billing_customers` (Stripe
customer → phone: the link), `billing_events` (every Stripe event once, by its id),
`billing_reconcile` (the scheduled reconcile's progress and lease) and
`billing_operator_requests` (what became of operators' reconcile and Checkout-link requests).
Each repository is bound to a session when built: the transaction's inside an event
(`unit_of_work.MongoBillingWork`), none for reads outside one (the expiry sweep's scan, the
re-fetch's hint, reconcile, the admin). Documents stay in here; records go in and out.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError

from services.billing_worker.domain.access import SubscriptionState
from services.billing_worker.records import (
    OPEN_OUTCOMES,
    AccountChanged,
    BillingAccount,
    CustomerAlreadyLinked,
    CustomerLink,
    ImportedAccount,
    OperatorRequestOutcome,
    Outcome,
    ReconcileReport,
    ReconcileState,
)
from shared.events.catalog import StripeEventReceived
from shared.mongo import (
    BulkFailure,
    Database,
    Document,
    IndexDeclarations,
    Provenance,
    insert_absent,
    migrated_from,
)

ACCOUNTS = "billing_accounts"
CUSTOMERS = "billing_customers"
EVENTS = "billing_events"
RECONCILE = "billing_reconcile"
OPERATOR_REQUESTS = "billing_operator_requests"
_STRIPE_RECONCILE = "stripe_events"

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


def _account(doc: Document) -> BillingAccount:
    return BillingAccount(
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


def migrated_account_document(account: ImportedAccount, provenance: Provenance) -> Document:
    """The `billing_accounts` row a data migration creates (also what its verify expects).
    No Stripe event applied yet (`last_event_at` empty): the first real one is newer than
    anything migrated and applies."""
    document: Document = {
        "_id": account.phone,
        "user_id": account.user_id,
        "subscription_id": account.subscription_id,
        "status": account.status,
        "current_period_end": account.current_period_end,
        "cancel_at_period_end": account.cancel_at_period_end,
        "canceled_at": account.canceled_at,
        "trial_end": account.trial_end,
        "has_access": account.has_access,
        "access_announced": account.access_announced,
        "welcomed_at": account.welcomed_at,
        "payment_notice_invoices": [],
        "last_event_at": None,
        "version": 1,
        "created_at": account.created_at,
        "updated_at": provenance.at,
        **provenance.fields(),
    }
    if account.customer_id is not None:
        document["stripe_customer_id"] = account.customer_id
    return document


class MongoAccounts:
    def __init__(self, db: Database, session: AsyncClientSession | None = None) -> None:
        self._collection = db[ACCOUNTS]
        self._session = session

    async def insert_migrated(
        self, accounts: Sequence[ImportedAccount], provenance: Provenance
    ) -> list[BulkFailure]:
        """A data migration's accounts in one unordered write, each created unless its phone
        has one (the live account wins, a replay adds nothing). A Stripe customer another
        account holds is a failure (`customer_unique`), reported by the migration."""
        return await insert_absent(
            self._collection, [migrated_account_document(a, provenance) for a in accounts]
        )

    async def delete_migrated(self, source: str) -> int:
        """A data migration's rollback: remove the accounts it created from `source`."""
        result = await self._collection.delete_many(migrated_from(source), session=self._session)
        return result.deleted_count

    async def migrated_count(self, source: str) -> int:
        """How many accounts a migration from `source` created (its verify)."""
        return await self._collection.count_documents(migrated_from(source), session=self._session)

    async def stored_document(self, phone: str) -> Document | None:
        """The account as stored, for a data migration's field-by-field verify."""
        return await self._collection.find_one({"_id": phone}, session=self._session)

    async def get(self, phone: str) -> BillingAccount | None:
        return await self._find({"_id": phone})

    async def by_user_id(self, user_id: str) -> BillingAccount | None:
        return await self._find({"user_id": user_id})

    async def by_subscription(self, subscription_id: str) -> BillingAccount | None:
        return await self._find({"subscription_id": subscription_id})

    async def open(
        self, phone: str, *, user_id: str | None, customer_id: str | None, now: datetime
    ) -> None:
        changes: dict[str, Any] = {"updated_at": now}
        if customer_id is not None:
            changes["stripe_customer_id"] = customer_id
        if user_id is not None:
            changes["user_id"] = user_id
        try:
            await self._collection.update_one(
                {"_id": phone},
                {
                    "$set": changes,
                    "$setOnInsert": {
                        "created_at": now,
                        "has_access": False,
                        "access_announced": False,
                    },
                    "$inc": {"version": 1},
                },
                upsert=True,
                session=self._session,
            )
        except DuplicateKeyError as error:  # index `customer_unique`
            raise CustomerAlreadyLinked(f"customer {customer_id} belongs to another account") from (
                error
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
        await self._compare_and_set(
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
        )

    async def set_access(self, account: BillingAccount, access: bool, *, now: datetime) -> None:
        await self._compare_and_set(account, {"has_access": access, "updated_at": now})

    async def mark_announced(self, phone: str, access: bool) -> None:
        await self._update(
            {"_id": phone},
            {"$set": {"access_announced": access}, "$inc": {"access_announcements": 1}},
        )

    async def mark_welcomed(self, phone: str, now: datetime) -> None:
        await self._update({"_id": phone}, {"$set": {"welcomed_at": now}})

    async def remember_payment_notice(
        self, phone: str, invoice_id: str, *, memory: int, now: datetime
    ) -> None:
        await self._update(
            {"_id": phone, "payment_notice_invoices": {"$ne": invoice_id}},
            {
                "$push": {"payment_notice_invoices": {"$each": [invoice_id], "$slice": -memory}},
                "$set": {"last_payment_failed_at": now},
            },
        )

    async def record_paid_invoice(self, phone: str, invoice_id: str, *, now: datetime) -> None:
        await self._update(
            {"_id": phone}, {"$set": {"last_paid_invoice_id": invoice_id, "last_paid_at": now}}
        )

    async def access_expired(self, now: datetime, limit: int = 500) -> list[str]:
        query = {"status": "canceled", "has_access": True, "current_period_end": {"$lte": now}}
        cursor = self._collection.find(query, {"_id": 1}, session=self._session).limit(limit)
        return [doc["_id"] async for doc in cursor]

    async def _find(self, query: Document) -> BillingAccount | None:
        doc = await self._collection.find_one(query, session=self._session)
        return _account(doc) if doc is not None else None

    async def _update(self, query: Document, update: Document) -> int:
        result = await self._collection.update_one(query, update, session=self._session)
        return result.matched_count

    async def _compare_and_set(self, account: BillingAccount, changes: Document) -> None:
        matched = await self._update(
            {"_id": account.phone, "version": account.version},
            {"$set": changes, "$inc": {"version": 1}},
        )
        if matched != 1:
            raise AccountChanged(f"billing account changed since version {account.version}")


class MongoCustomers:
    def __init__(self, db: Database, session: AsyncClientSession | None = None) -> None:
        self._collection = db[CUSTOMERS]
        self._session = session

    async def get(self, customer_id: str) -> CustomerLink | None:
        doc = await self._collection.find_one({"_id": customer_id}, session=self._session)
        if doc is None:
            return None
        return CustomerLink(customer_id, doc.get("phone"), doc.get("user_id"))

    async def link(
        self, customer_id: str, phone: str, *, user_id: str | None, now: datetime
    ) -> bool:
        existing = await self.get(customer_id)
        if existing is not None and existing.phone not in (None, phone):
            raise CustomerAlreadyLinked(f"customer {customer_id} belongs to another account")
        await self._collection.update_one(
            {"_id": customer_id},
            {
                "$set": {"phone": phone, "user_id": user_id, "linked_at": now},
                "$inc": {"writes": 1},
            },
            upsert=True,
            session=self._session,
        )
        return existing is None or existing.phone is None

    async def insert_migrated(
        self, links: Sequence[CustomerLink], linked_at: datetime
    ) -> list[BulkFailure]:
        """A data migration's customer links, each created unless the customer is linked
        already (the live link wins)."""
        return await insert_absent(
            self._collection,
            [
                {
                    "_id": link.customer_id,
                    "phone": link.phone,
                    "user_id": link.user_id,
                    "linked_at": linked_at,
                    "writes": 1,
                }
                for link in links
            ],
        )

    async def note_unlinked_event(self, customer_id: str, now: datetime) -> None:
        await self._collection.update_one(
            {"_id": customer_id},
            {"$inc": {"writes": 1, "unlinked_events": 1}, "$set": {"last_unlinked_at": now}},
            upsert=True,
            session=self._session,
        )


class MongoStripeEvents:
    def __init__(self, db: Database, session: AsyncClientSession | None = None) -> None:
        self._collection = db[EVENTS]
        self._session = session

    async def begin(
        self,
        payload: StripeEventReceived,
        *,
        envelope_id: str,
        customer_id: str | None,
        now: datetime,
    ) -> bool:
        existing = await self._collection.find_one(
            {"_id": payload.stripe_event_id}, {"status": 1}, session=self._session
        )
        if existing is not None:
            return Outcome(existing["status"]) in OPEN_OUTCOMES
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
            session=self._session,
        )
        return True

    async def finish(
        self, stripe_event_id: str, outcome: Outcome, *, phone: str | None, now: datetime
    ) -> None:
        await self._collection.update_one(
            {"_id": stripe_event_id},
            {"$set": {"status": outcome.value, "phone": phone, "processed_at": now}},
            session=self._session,
        )

    async def pending_for(self, customer_id: str) -> list[StripeEventReceived]:
        cursor = self._collection.find(
            {"customer": customer_id, "status": Outcome.PENDING_LINK.value}, session=self._session
        ).sort([("created", ASCENDING), ("_id", ASCENDING)])
        return [_payload(doc) async for doc in cursor]

    async def received(self, stripe_event_ids: Iterable[str]) -> set[str]:
        """Which of these Stripe events are recorded, whatever became of them (reconcile)."""
        cursor = self._collection.find(
            {"_id": {"$in": list(stripe_event_ids)}}, {"_id": 1}, session=self._session
        )
        return {doc["_id"] async for doc in cursor}

    async def outcome(self, stripe_event_id: str) -> Outcome | None:
        """What became of the event (operators, tests); None if it was never recorded."""
        doc = await self._collection.find_one(
            {"_id": stripe_event_id}, {"status": 1}, session=self._session
        )
        return Outcome(doc["status"]) if doc is not None else None


class MongoReconcileRuns:
    """The scheduled reconcile's one document: how far back Stripe's events have been compared,
    the last run, and the lease that lets one replica run at a time. Single conditional writes
    and no session: each must hold for every replica the moment it is made."""

    def __init__(self, db: Database) -> None:
        self._collection = db[RECONCILE]

    async def state(self) -> ReconcileState:
        doc = await self._collection.find_one({"_id": _STRIPE_RECONCILE})
        if doc is None:
            return ReconcileState()
        return ReconcileState(
            covered_until=doc.get("covered_until"),
            succeeded_at=doc.get("succeeded_at"),
            holder=doc.get("holder"),
            lease_until=doc.get("lease_until"),
        )

    async def claim(
        self, holder: str, *, covered_until: datetime | None, now: datetime, until: datetime
    ) -> bool:
        # The document exists before anyone competes for it, so the claim is one conditional
        # update (an upsert racing another replica's would raise instead).
        with contextlib.suppress(DuplicateKeyError):  # created by another replica meanwhile
            await self._collection.update_one(
                {"_id": _STRIPE_RECONCILE},
                {"$setOnInsert": {"covered_until": None, "holder": None, "lease_until": now}},
                upsert=True,
            )
        result = await self._collection.update_one(
            {
                "_id": _STRIPE_RECONCILE,
                # Still what the caller read: a run that finished meanwhile makes this one moot.
                "covered_until": covered_until,
                "lease_until": {"$lte": now},
            },
            {"$set": {"holder": holder, "lease_until": until, "started_at": now}},
        )
        return result.matched_count == 1

    async def succeeded(
        self,
        holder: str,
        *,
        covered_until: datetime,
        finished_at: datetime,
        report: ReconcileReport,
    ) -> bool:
        result = await self._collection.update_one(
            {"_id": _STRIPE_RECONCILE, "holder": holder},
            {
                "$set": {
                    "covered_until": covered_until,
                    "succeeded_at": finished_at,
                    "holder": None,
                    "lease_until": finished_at,
                    "last_report": asdict(report),
                }
            },
        )
        return result.matched_count == 1

    async def failed(self, holder: str, *, retry_at: datetime, error: str) -> None:
        await self._collection.update_one(
            {"_id": _STRIPE_RECONCILE, "holder": holder},
            {"$set": {"holder": None, "lease_until": retry_at, "last_error": error}},
        )


class MongoOperatorRequests:
    """`billing_operator_requests`: one document per operator request, by its id, written once
    (a redelivered request keeps what its first run recorded)."""

    def __init__(self, db: Database, session: AsyncClientSession | None = None) -> None:
        self._collection = db[OPERATOR_REQUESTS]
        self._session = session

    async def record(self, outcome: OperatorRequestOutcome) -> None:
        document = asdict(outcome)
        document["_id"] = document.pop("request_id")
        await self._collection.update_one(
            {"_id": document["_id"]},
            {"$setOnInsert": {k: v for k, v in document.items() if k != "_id"}},
            upsert=True,
            session=self._session,
        )

    async def get(self, request_id: str) -> OperatorRequestOutcome | None:
        doc = await self._collection.find_one({"_id": request_id}, session=self._session)
        if doc is None:
            return None
        report = doc.get("reconcile")
        return OperatorRequestOutcome(
            request_id=doc["_id"],
            kind=doc["kind"],
            status=doc["status"],
            requested_by=doc["requested_by"],
            requested_at=doc["requested_at"],
            finished_at=doc["finished_at"],
            reconcile=ReconcileReport(**report) if report is not None else None,
            checkout_url=doc.get("checkout_url"),
            checkout_session_id=doc.get("checkout_session_id"),
            error=doc.get("error"),
        )


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

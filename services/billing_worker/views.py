"""What other services may read of billing: a caregiver's subscription as a record, and what
became of an operator's request (a reconcile, a Checkout link).

The admin reads here and nowhere else in the billing worker; billing's own writes stay behind
its unit of work.
"""

from __future__ import annotations

from services.billing_worker.records import BillingAccount, OperatorRequestOutcome, ReconcileReport
from services.billing_worker.store import MongoAccounts, MongoOperatorRequests
from shared.mongo import Database, Document

__all__ = ["BillingAccount", "BillingViews", "OperatorRequestOutcome", "ReconcileReport"]


class BillingViews:
    """Read-only queries over the billing worker's database."""

    def __init__(self, db: Database) -> None:
        self._accounts = MongoAccounts(db)
        self._requests = MongoOperatorRequests(db)

    async def account(self, phone: str) -> BillingAccount | None:
        """The caregiver's billing account (E.164 phone), if billing has seen them."""
        return await self._accounts.get(phone)

    async def migrated_accounts(self, source: str) -> int:
        """How many accounts a data migration from `source` created (its verify)."""
        return await self._accounts.migrated_count(source)

    async def account_as_stored(self, phone: str) -> Document | None:
        """The account's document, for a data migration's field-by-field verify (it compares
        it with `store.migrated_account_document`, provenance included)."""
        return await self._accounts.stored_document(phone)

    async def operator_request(self, request_id: str) -> OperatorRequestOutcome | None:
        """What billing made of an operator's request; None until it has handled it."""
        return await self._requests.get(request_id)

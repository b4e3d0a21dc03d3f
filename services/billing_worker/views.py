"""What other services may read of billing: a caregiver's subscription as a record.

The admin's user view reads here and nowhere else in the billing worker; billing's own writes
stay behind its unit of work.
"""

from __future__ import annotations

from services.billing_worker.records import BillingAccount
from services.billing_worker.store import MongoAccounts
from shared.mongo import Database

__all__ = ["BillingAccount", "BillingViews"]


class BillingViews:
    """Read-only queries over the billing worker's database."""

    def __init__(self, db: Database) -> None:
        self._accounts = MongoAccounts(db)

    async def account(self, phone: str) -> BillingAccount | None:
        """The caregiver's billing account (E.164 phone), if billing has seen them."""
        return await self._accounts.get(phone)

"""Canceled subscriptions keep access until the paid period ends — and then lose it, although no
Stripe event marks that moment. This loop finds such accounts and announces the change once."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime

import structlog
from pymongo.errors import PyMongoError

from services.billing_worker.domain.access import has_access
from services.billing_worker.handlers import announce_access
from services.billing_worker.unit_of_work import AccountReads, BillingTransactions, BillingWork
from shared.clock import Clock

log = structlog.get_logger(__name__)


class AccessExpiry:
    def __init__(
        self,
        accounts: AccountReads,
        transactions: BillingTransactions,
        clock: Clock,
        *,
        interval_seconds: float,
    ) -> None:
        self._accounts = accounts
        self._transactions = transactions
        self._clock = clock
        self._interval = interval_seconds

    async def expire_due(self) -> int:
        """Take access from every canceled account whose period ended; return how many.

        The scan reads outside any transaction; each account is then read again and changed in
        a transaction of its own, so one busy account holds up no other."""
        now = self._clock.now()
        expired = 0
        for phone in await self._accounts.access_expired(now):

            async def expire(uow: BillingWork, phone: str = phone) -> bool:
                return await _expire(uow, phone, now)

            if await self._transactions.run(expire):
                expired += 1
        return expired

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                expired = await self.expire_due()
            except PyMongoError:
                log.warning("access expiry could not read accounts; retrying", exc_info=True)
            else:
                if expired:
                    log.info("canceled subscriptions reached their period end", count=expired)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._interval)


async def _expire(uow: BillingWork, phone: str, now: datetime) -> bool:
    """Withdraw the account's access if its period ended, and announce it; True if announced."""
    account = await uow.accounts.get(phone)
    if account is None or account.current_period_end is None:
        return False
    access = has_access(account.status, account.current_period_end, now)
    if access != account.has_access:
        await uow.accounts.set_access(account, access, now=now)
    return await announce_access(
        uow, phone, cause=f"period-end:{account.current_period_end.isoformat()}", now=now
    )

"""Canceled subscriptions keep access until the paid period ends — and then lose it, although no
Stripe event marks that moment. This loop finds such accounts and announces the change once."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime

import structlog
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import PyMongoError

from services.billing_worker.access import has_access
from services.billing_worker.handlers import announce_access
from services.billing_worker.store import BillingAccounts
from shared.clock import Clock
from shared.mongo import MongoClient
from shared.outbox import Outbox
from shared.unit_of_work import UnitOfWork

log = structlog.get_logger(__name__)


class AccessExpiry:
    def __init__(
        self,
        accounts: BillingAccounts,
        outbox: Outbox,
        client: MongoClient,
        clock: Clock,
        *,
        interval_seconds: float,
    ) -> None:
        self._accounts = accounts
        self._outbox = outbox
        self._client = client
        self._clock = clock
        self._interval = interval_seconds

    async def expire_due(self) -> int:
        """Take access from every canceled account whose period ended; return how many."""
        now = self._clock.now()
        expired = 0
        for phone in await self._accounts.access_expired(now):
            if await self._expire(phone, now):
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

    async def _expire(self, phone: str, now: datetime) -> bool:
        async def body(session: AsyncClientSession) -> bool:
            account = await self._accounts.get(phone, session)
            if account is None or account.current_period_end is None:
                return False
            access = has_access(account.status, account.current_period_end, now)
            if access != account.has_access and not await self._accounts.set_access(
                account, access, now=now, session=session
            ):
                return False  # changed meanwhile by an event; the next pass looks again
            return await announce_access(
                self._accounts,
                UnitOfWork(session, self._outbox),
                phone,
                cause=f"period-end:{account.current_period_end.isoformat()}",
                now=now,
            )

        async with self._client.start_session() as session:
            announced: bool = await session.with_transaction(body)
        self._outbox.notify()
        return announced

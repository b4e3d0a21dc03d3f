"""Wiring the billing worker: which collections, clock and settings each piece gets, once.

Tests build the same consumer against their own broker and database, so what they exercise is
what `python -m services.billing_worker` runs.
"""

from __future__ import annotations

import functools

from services.billing_worker.handlers import BillingTexts, StripeEventHandler
from services.billing_worker.refetch import SubscriptionRefresher
from services.billing_worker.store import BillingAccounts, BillingCustomers, BillingEvents
from shared.broker import Consumer
from shared.clock import Clock
from shared.events import Envelope
from shared.events.catalog import StripeEventReceived
from shared.inbox import Inbox
from shared.mongo import Database
from shared.unit_of_work import UnitOfWork

QUEUE = "billing_worker.stripe"


class StripeEventConsumer:
    """What the consumer runtime calls: re-fetch the subscription if needed (no transaction
    open yet), then run the handler idempotently inside the inbox's unit of work."""

    def __init__(
        self,
        inbox: Inbox[UnitOfWork],
        handler: StripeEventHandler,
        refresher: SubscriptionRefresher | None = None,
    ) -> None:
        self._inbox = inbox
        self._handler = handler
        self._refresher = refresher

    async def __call__(self, event: Envelope[StripeEventReceived]) -> None:
        fresh = None
        if self._refresher is not None:
            fresh = await self._refresher.fresh_state(event.payload)
        handle = functools.partial(self._handler.handle, fresh=fresh)
        await self._inbox.idempotent(handle)(event)


def stripe_event_handler(db: Database, clock: Clock, texts: BillingTexts) -> StripeEventHandler:
    return StripeEventHandler(
        BillingAccounts(db), BillingCustomers(db), BillingEvents(db), clock, texts
    )


def register_stripe_events(
    consumer: Consumer,
    inbox: Inbox[UnitOfWork],
    handler: StripeEventHandler,
    refresher: SubscriptionRefresher | None = None,
) -> None:
    consumer.handle(StripeEventReceived, StripeEventConsumer(inbox, handler, refresher))

"""The billing worker's queue and what its consumer runs for each Stripe event.

Tests build the same consumer against their own broker and database, so what they exercise is
what `python -m services.billing_worker` runs.
"""

from __future__ import annotations

from services.billing_worker.handlers import NO_PLAN, StripeEventHandler, SubscriptionPlan
from services.billing_worker.refetch import SubscriptionRefresher
from services.billing_worker.unit_of_work import BillingWork
from shared.events import Envelope
from shared.events.catalog import StripeEventReceived


class StripeEventConsumer:
    """A planned handler: the plan re-fetches the subscription from Stripe when the policy asks
    (slow, outside any transaction), `apply` runs the handler inside the event's unit of work."""

    def __init__(
        self, handler: StripeEventHandler, refresher: SubscriptionRefresher | None = None
    ) -> None:
        self._handler = handler
        self._refresher = refresher

    async def plan(self, event: Envelope[StripeEventReceived]) -> SubscriptionPlan:
        if self._refresher is None:
            return NO_PLAN
        return await self._refresher.plan(event.payload)

    async def apply(
        self, event: Envelope[StripeEventReceived], plan: SubscriptionPlan, uow: BillingWork
    ) -> None:
        await self._handler.handle(event, uow, plan)

"""Asking Stripe for a subscription when its event leaves doubt, before the transaction starts.

The read happens outside the unit of work, so a transaction retried on a write conflict never
repeats a network call and never stays open across one; the handler then applies what Stripe
returned as an observation made at the time of the request.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import structlog

from services.billing_worker.access import RefetchPolicy, needs_refetch
from services.billing_worker.handlers import SUBSCRIPTION_EVENTS, FreshSubscription
from services.billing_worker.store import BillingAccounts
from services.billing_worker.stripe_objects import has_status, object_id, subscription_state
from shared.clock import Clock
from shared.events.catalog import StripeEventReceived

log = structlog.get_logger(__name__)


class SubscriptionSource(Protocol):
    async def subscription(self, subscription_id: str) -> Mapping[str, Any] | None: ...


class SubscriptionRefresher:
    def __init__(
        self,
        policy: RefetchPolicy,
        source: SubscriptionSource,
        accounts: BillingAccounts,
        clock: Clock,
    ) -> None:
        self._policy = policy
        self._source = source
        self._accounts = accounts
        self._clock = clock

    async def fresh_state(self, payload: StripeEventReceived) -> FreshSubscription | None:
        """Stripe's current copy of the event's subscription when the policy asks for one."""
        if self._policy == "off" or payload.stripe_type not in SUBSCRIPTION_EVENTS:
            return None
        subscription_id = object_id(payload.data_object.get("id"))
        if subscription_id is None:
            return None
        # A hint read outside the transaction; the handler's own ordering check still decides.
        account = await self._accounts.by_subscription(subscription_id)
        applied_at = account.last_event_at if account is not None else None
        if not needs_refetch(
            self._policy,
            status_known=has_status(payload.data_object),
            event_created=payload.created,
            applied_at=applied_at,
        ):
            return None
        observed_at = self._clock.now()  # taken before asking: the answer is at least this new
        found = await self._source.subscription(subscription_id)
        if found is None:
            log.warning("subscription unknown to Stripe; using the event's copy")
            return None
        log.info("subscription re-fetched from Stripe", stripe_event_id=payload.stripe_event_id)
        return FreshSubscription(subscription_state(found), observed_at)

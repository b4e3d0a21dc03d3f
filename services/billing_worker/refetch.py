"""Asking Stripe for a subscription when its event leaves doubt, before the transaction starts.

The plan of `service.StripeEventConsumer`: made outside the unit of work, so a transaction
retried on a write conflict never repeats a network call and never stays open across one; the
handler then applies what Stripe returned as an observation made at the time of the request.
Whether to ask depends on the change last applied to the subscription, read here without a
transaction; the plan carries what it read, and the handler raises `StalePlan` if that moved.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Protocol

import structlog

from services.billing_worker.domain.access import RefetchPolicy, needs_refetch
from services.billing_worker.handlers import (
    NO_PLAN,
    SUBSCRIPTION_EVENTS,
    FreshSubscription,
    SubscriptionPlan,
)
from services.billing_worker.stripe_objects import has_status, object_id, subscription_state
from services.billing_worker.unit_of_work import AccountReads
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
        accounts: AccountReads,
        clock: Clock,
    ) -> None:
        self._policy = policy
        self._source = source
        self._accounts = accounts
        self._clock = clock

    async def plan(self, payload: StripeEventReceived) -> SubscriptionPlan:
        """Stripe's current copy of the event's subscription when the policy asks for one."""
        if self._policy == "off" or payload.stripe_type not in SUBSCRIPTION_EVENTS:
            return NO_PLAN
        subscription_id = object_id(payload.data_object.get("id"))
        if subscription_id is None:
            return NO_PLAN
        account = await self._accounts.by_subscription(subscription_id)
        applied_at = account.last_event_at if account is not None else None
        plan = SubscriptionPlan(subscription_id, applied_at)
        if not needs_refetch(
            self._policy,
            status_known=has_status(payload.data_object),
            event_created=payload.created,
            applied_at=applied_at,
        ):
            return plan
        observed_at = self._clock.now()  # taken before asking: the answer is at least this new
        found = await self._source.subscription(subscription_id)
        if found is None:
            log.warning("subscription unknown to Stripe; using the event's copy")
            return plan
        log.info("subscription re-fetched from Stripe", stripe_event_id=payload.stripe_event_id)
        return replace(plan, fresh=FreshSubscription(subscription_state(found), observed_at))

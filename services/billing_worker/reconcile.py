"""Recovering missed webhooks: list recent events through the Stripe API and feed the ones we
never received into the normal pipeline, as the same events ingress would have published.

The envelope carries ingress's idempotency key (`stripe:<event id>`), so the event id is the one
ingress would have produced and an event that is merely in flight is dropped by the inbox; the
worker also dedupes by Stripe event id in `billing_events`. Running it twice is harmless.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, Protocol

import stripe
import structlog

from services.billing_worker.records import ReconcileReport
from services.billing_worker.stripe_objects import stripe_event_payload
from shared.clock import Clock
from shared.events import Envelope, new_event

log = structlog.get_logger(__name__)

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
# Stripe keeps events for 30 days; older ones cannot be listed.
STRIPE_EVENT_RETENTION = timedelta(days=30)
_PAGE_SIZE = 100


class EventPublisher(Protocol):
    async def publish(self, event: Envelope[Any]) -> None: ...


class RecordedEvents(Protocol):
    """`store.MongoStripeEvents`, read outside any event."""

    async def received(self, stripe_event_ids: Iterable[str]) -> set[str]: ...


def parse_since(text: str) -> timedelta:
    """`90m`, `12h`, `3d`, `1w` → a positive duration within Stripe's 30-day event retention."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError("expected a duration such as 90m, 12h, 3d or 1w")
    amount, unit = match.groups()
    duration = timedelta(**{_UNITS[unit]: int(amount)})
    if duration <= timedelta(0) or duration > STRIPE_EVENT_RETENTION:
        raise ValueError("the duration must be more than zero and at most 30 days")
    return duration


async def reconcile(
    client: stripe.StripeClient,
    events: RecordedEvents,
    publisher: EventPublisher,
    clock: Clock,
    *,
    since: timedelta,
) -> ReconcileReport:
    """Feed every Stripe event created within `since` that `billing_events` does not have."""
    now = clock.now()
    page = await client.v1.events.list_async(
        {"created": {"gte": int((now - since).timestamp())}, "limit": _PAGE_SIZE}
    )
    listed = already = fed = 0
    batch: list[dict[str, Any]] = []
    async for stripe_event in page.auto_paging_iter():
        batch.append(stripe_event.to_dict())
        if len(batch) == _PAGE_SIZE:
            seen, published = await _feed(batch, events, publisher, now)
            listed, already, fed = listed + len(batch), already + seen, fed + published
            batch = []
    if batch:
        seen, published = await _feed(batch, events, publisher, now)
        listed, already, fed = listed + len(batch), already + seen, fed + published
    log.info("stripe events reconciled", listed=listed, already_received=already, fed=fed)
    return ReconcileReport(listed=listed, already_received=already, fed=fed)


async def _feed(
    batch: list[dict[str, Any]], events: RecordedEvents, publisher: EventPublisher, now: datetime
) -> tuple[int, int]:
    received = await events.received(document["id"] for document in batch)
    fed = 0
    # Oldest first, so the worker meets them roughly in the order Stripe created them.
    for document in reversed(batch):
        if document["id"] in received:
            continue
        payload = stripe_event_payload(document, received_at=now)
        await publisher.publish(
            new_event(
                payload,
                event_type=f"billing.stripe.{payload.stripe_type}",
                idempotency_key=f"stripe:{payload.stripe_event_id}",
                occurred_at=now,
            )
        )
        log.info("missed stripe event fed", stripe_event_id=payload.stripe_event_id)
        fed += 1
    return len(received), fed

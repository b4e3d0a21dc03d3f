"""Taking a verified webhook in: store it once, publish it, say whether it was new.

The `ingress_events` collection is this service's outbox, keyed by the provider's dedupe key.
A request inserts its row already claimed, publishes it itself with confirms and marks it sent;
if the broker is away the row stays pending and the background relay publishes it later. A
duplicate finds the row and publishes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog
from pymongo.errors import PyMongoError

from shared.broker.publisher import Publisher, PublishFailed
from shared.events import Envelope
from shared.outbox import Outbox, OutboxRelay

log = structlog.get_logger(__name__)

INGRESS_EVENTS = "ingress_events"


class StorageUnavailable(Exception):
    """The database did not take the webhook: the provider must retry (HTTP 503)."""


@dataclass(frozen=True)
class Intake:
    duplicate: bool
    published: bool


class BrokerLink:
    """The publisher once the broker is connected; until then publishing fails fast and rows
    wait for the relay."""

    def __init__(self) -> None:
        self.publisher: Publisher | None = None

    @property
    def connected(self) -> bool:
        return self.publisher is not None

    async def publish_body(
        self, body: bytes, *, event_type: str, message_id: str, correlation_id: str | None
    ) -> None:
        if self.publisher is None:
            raise PublishFailed("broker not connected")
        await self.publisher.publish_body(
            body, event_type=event_type, message_id=message_id, correlation_id=correlation_id
        )


class WebhookIntake:
    def __init__(self, outbox: Outbox, relay: OutboxRelay) -> None:
        self._outbox = outbox
        self._relay = relay

    async def accept(self, event: Envelope[Any], dedupe_key: str) -> Intake:
        try:
            row = await self._outbox.add_claimed(event, row_id=dedupe_key)
        except PyMongoError as error:
            log.error("webhook not stored: database unavailable", error=type(error).__name__)
            raise StorageUnavailable from error
        if row is None:
            return Intake(duplicate=True, published=False)
        try:
            published = await self._relay.publish_claimed(row)
        except PyMongoError:
            # Stored and maybe published; the relay settles it. The provider gets its 2xx.
            log.warning("could not record publication; relay will settle it")
            published = False
        if not published:
            self._outbox.notify()
        return Intake(duplicate=False, published=published)

"""Transactional outbox: events are written beside the state change, then relayed to the broker.

A handler never publishes directly; it adds events to its service's `outbox` collection in the
same transaction (or idempotently, by event id) as its state change. The relay publishes pending
rows with confirms and marks them sent. A relay that dies after claiming rows leaves them leased;
when the lease runs out another relay (or the same one, restarted) publishes them. A crash between
the broker's confirm and the "sent" mark re-publishes the same event id, which consumers' inboxes
drop — so every event is delivered, and its effect happens once.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import structlog
from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError, PyMongoError

from shared.broker.publisher import PublishFailed, UnroutableEvent
from shared.clock import Clock
from shared.config import OutboxSettings
from shared.events import Envelope
from shared.metrics import OUTBOX_PUBLISH_FAILURES
from shared.mongo import BulkFailure, Database, Document, IndexDeclarations, insert_absent

log = structlog.get_logger(__name__)

OUTBOX_COLLECTION = "outbox"
PENDING = "pending"
SENT = "sent"
# No queue is bound for the event's type: retrying cannot help until the topology changes.
UNROUTABLE = "unroutable"
# A row the broker client kept refusing for a reason that is not the broker's state (a message
# it cannot even encode): set aside for an operator instead of retried forever or, worse,
# allowed to stop the relay.
UNPUBLISHABLE = "unpublishable"
UNPUBLISHABLE_AFTER_ATTEMPTS = 5
# A pending row's lease starts expired: it is claimable at once.
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

OutboxCollection = AsyncCollection[Document]


def outbox_indexes(retention_days: float, collection: str = OUTBOX_COLLECTION) -> IndexDeclarations:
    return {
        collection: [
            IndexModel(
                [("status", ASCENDING), ("lease_until", ASCENDING)], name="pending_by_lease"
            ),
            # Only sent rows have `sent_at`, so only they expire.
            IndexModel(
                [("sent_at", ASCENDING)],
                name="sent_ttl",
                expireAfterSeconds=int(retention_days * 86_400),
            ),
        ]
    }


class EventPublisher(Protocol):
    async def publish_body(
        self, body: bytes, *, event_type: str, message_id: str, correlation_id: str | None
    ) -> None: ...


def outbox_row(event: Envelope[Any], now: datetime, row_id: str | None = None) -> Document:
    return {
        "_id": row_id or str(event.id),
        "type": event.type,
        "correlation_id": event.correlation_id,
        "body": event.to_json(),
        "status": PENDING,
        "created_at": now,
        "lease_until": _EPOCH,
        "attempts": 0,
    }


async def add_imported(
    db: Database, events: Sequence[Envelope[Any]], now: datetime
) -> list[BulkFailure]:
    """A data migration's events into `db`'s outbox, in one unordered write, each added unless
    its id is there (ids derive from the migration and the source document, so a replayed
    batch adds nothing). The service's relay publishes them like any other."""
    return await insert_absent(db[OUTBOX_COLLECTION], [outbox_row(event, now) for event in events])


class Outbox:
    """Where handlers put the events they emit; `add` joins the caller's transaction."""

    def __init__(self, collection: OutboxCollection, clock: Clock) -> None:
        self._collection = collection
        self._clock = clock
        self._added = asyncio.Event()

    async def add(
        self,
        event: Envelope[Any],
        session: AsyncClientSession | None = None,
        *,
        row_id: str | None = None,
    ) -> None:
        """Record `event` for publishing; adding the same event id twice is a no-op.

        An upsert rather than an insert: a duplicate key error would abort the caller's
        transaction, and a deterministic id seen twice is exactly the duplicate we want to drop.
        `row_id` (default: the event id) lets a caller publish the same event once more on
        purpose, e.g. an operator re-requesting a send.
        """
        row = outbox_row(event, self._clock.now(), row_id)
        await self._collection.update_one(
            {"_id": row.pop("_id")}, {"$setOnInsert": row}, upsert=True, session=session
        )
        if session is None or not session.in_transaction:
            self.notify()

    async def add_claimed(
        self, event: Envelope[Any], *, row_id: str, lease_seconds: float
    ) -> Document | None:
        """Insert a row already claimed by the caller, who publishes it at once itself
        (`OutboxRelay.publish_claimed`); relays leave it alone until the lease runs out.

        Returns the row, or None when a row with `row_id` exists: a duplicate.
        """
        now = self._clock.now()
        row = outbox_row(event, now, row_id)
        row["claim"] = str(uuid.uuid4())
        row["lease_until"] = now + timedelta(seconds=lease_seconds)
        row["attempts"] = 1
        try:
            result = await self._collection.update_one(
                {"_id": row["_id"]},
                {"$setOnInsert": {k: v for k, v in row.items() if k != "_id"}},
                upsert=True,
            )
        except DuplicateKeyError:
            return None  # a concurrent upsert of the same id won the race
        return row if result.upserted_id is not None else None

    def notify(self) -> None:
        """Tell the relay in this process that new rows are committed."""
        self._added.set()

    async def wait_for_new(self, timeout: float) -> None:
        """Wake the relay early when this process added events, else after `timeout`."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._added.wait(), timeout)
        self._added.clear()


class OutboxRelay:
    """Publishes pending outbox rows; safe to run in several processes at once."""

    def __init__(
        self,
        outbox: Outbox,
        collection: OutboxCollection,
        publisher: EventPublisher,
        settings: OutboxSettings,
        clock: Clock,
    ) -> None:
        self._outbox = outbox
        self._collection = collection
        self._publisher = publisher
        self._settings = settings
        self._clock = clock

    async def relay_once(self) -> int:
        """Claim up to one batch of due rows, publish them, mark them sent; return how many."""
        rows = await self._claim()
        if not rows:
            return 0
        results = await asyncio.gather(*(self._publish(row) for row in rows))
        return sum(results)

    async def run(self, stop: asyncio.Event) -> None:
        """Relay until `stop` is set; survives database and broker outages by polling again."""
        while not stop.is_set():
            try:
                published = await self.relay_once()
            except PyMongoError:
                log.warning("outbox relay could not read the outbox; retrying", exc_info=True)
                published = 0
            except Exception:
                # Nothing may stop the relay: a dead relay silently strands every event after it.
                log.exception("outbox relay pass failed; retrying")
                published = 0
            if published >= self._settings.batch_size:
                continue  # more may be waiting
            wait_new = asyncio.ensure_future(
                self._outbox.wait_for_new(self._settings.poll_interval_seconds)
            )
            wait_stop = asyncio.ensure_future(stop.wait())
            await asyncio.wait({wait_new, wait_stop}, return_when=asyncio.FIRST_COMPLETED)
            for waiter in (wait_new, wait_stop):
                waiter.cancel()

    async def _claim(self) -> list[Document]:
        now = self._clock.now()
        due = {"status": PENDING, "lease_until": {"$lte": now}}
        candidates = [
            row["_id"]
            async for row in self._collection.find(due, {"_id": 1})
            .sort("created_at", ASCENDING)
            .limit(self._settings.batch_size)
        ]
        if not candidates:
            return []
        claim = str(uuid.uuid4())
        lease_until = now + timedelta(seconds=self._settings.claim_lease_seconds)
        # The conditional update makes the claim exclusive when relays race for the same rows.
        await self._collection.update_many(
            {**due, "_id": {"$in": candidates}},
            {"$set": {"lease_until": lease_until, "claim": claim}, "$inc": {"attempts": 1}},
        )
        return [
            row
            async for row in self._collection.find({"claim": claim, "status": PENDING}).sort(
                "created_at", ASCENDING
            )
        ]

    async def publish_claimed(self, row: Document) -> bool:
        """Publish a row this process claimed (see `Outbox.add_claimed`); False leaves it to
        the relay once its lease expires."""
        return await self._publish(row) == 1

    async def _release(self, row: Document) -> None:
        await self._collection.update_one(
            {"_id": row["_id"], "claim": row["claim"]},
            {"$set": {"lease_until": self._clock.now()}, "$unset": {"claim": ""}},
        )

    async def _publish(self, row: Document) -> int:
        try:
            await self._publisher.publish_body(
                row["body"],
                event_type=row["type"],
                message_id=row["_id"],
                correlation_id=row.get("correlation_id"),
            )
        except UnroutableEvent as error:
            OUTBOX_PUBLISH_FAILURES.labels(row["type"]).inc()
            log.error("outbox event unroutable; set aside", outbox_id=row["_id"], error=str(error))
            await self._collection.update_one(
                {"_id": row["_id"], "claim": row["claim"]},
                {"$set": {"status": UNROUTABLE, "error": str(error)}, "$unset": {"claim": ""}},
            )
            return 0
        except PublishFailed as error:
            OUTBOX_PUBLISH_FAILURES.labels(row["type"]).inc()
            log.warning(
                "outbox event not published; will retry",
                outbox_id=row["_id"],
                event_type=row["type"],
                error=str(error),
            )
            # Not in doubt (this process is alive and knows it failed): release the claim so
            # the next pass retries instead of waiting out the lease.
            await self._release(row)
            return 0
        except Exception as error:
            OUTBOX_PUBLISH_FAILURES.labels(row["type"]).inc()
            if row.get("attempts", 0) < UNPUBLISHABLE_AFTER_ATTEMPTS:
                log.warning(
                    "outbox event could not be published; will retry",
                    outbox_id=row["_id"],
                    event_type=row["type"],
                    error=type(error).__name__,
                )
                await self._release(row)
                return 0
            log.error(
                "outbox event unpublishable; set aside",
                outbox_id=row["_id"],
                event_type=row["type"],
                error=type(error).__name__,
            )
            await self._collection.update_one(
                {"_id": row["_id"], "claim": row["claim"]},
                {
                    "$set": {"status": UNPUBLISHABLE, "error": type(error).__name__},
                    "$unset": {"claim": ""},
                },
            )
            return 0
        await self._collection.update_one(
            {"_id": row["_id"], "claim": row["claim"]},
            {"$set": {"status": SENT, "sent_at": self._clock.now()}, "$unset": {"claim": ""}},
        )
        return 1

"""Transactional outbox: events are written beside the state change, then relayed to the broker.

A handler never publishes directly; its unit of work adds the events it emits to its service's
`outbox` collection in the same transaction as its state change, all in one write. In a process
with a relay the rows are written already claimed by it (a lease), and right after the commit
that process publishes them itself and marks them sent — a whole batch with one bulk write, a
moment later (`SentMarks`). Polling for due rows is only the safety net: a process that dies between
commit and publish leaves its rows leased, and when the lease runs out any relay publishes them.
A crash between the broker's confirm and the "sent" mark re-publishes the same event id, which
consumers' inboxes drop — so every event is delivered, and its effect happens once.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, Protocol, TypeVar

import structlog
from pymongo import ASCENDING, IndexModel, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, DuplicateKeyError, PyMongoError

from shared.broker.publisher import PublishFailed, UnroutableEvent
from shared.clock import Clock
from shared.config import OutboxSettings
from shared.events import Envelope
from shared.metrics import OUTBOX_PUBLISH_FAILURES
from shared.mongo import BulkFailure, Database, Document, IndexDeclarations, insert_absent
from shared.mongo.each_document import each_document
from shared.tracing import ROW_TRACE_FIELD, continued, current_carrier

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
_DUPLICATE_KEY = 11000

OutboxCollection = AsyncCollection[Document]
T = TypeVar("T")


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
    """The row for `event`; it keeps the trace context it was written in (when one is being
    recorded), so whichever relay publishes it continues that trace."""
    row: Document = {
        "_id": row_id or str(event.id),
        "type": event.type,
        "correlation_id": event.correlation_id,
        "body": event.to_json(),
        "status": PENDING,
        "created_at": now,
        "lease_until": _EPOCH,
        "attempts": 0,
    }
    carrier = current_carrier()
    if carrier is not None:
        row[ROW_TRACE_FIELD] = carrier
    return row


async def add_imported(
    db: Database, events: Sequence[Envelope[Any]], now: datetime
) -> list[BulkFailure]:
    """A data migration's events into `db`'s outbox, in one unordered write, each added unless
    its id is there (ids derive from the migration and the source document, so a replayed
    batch adds nothing). The service's relay publishes them like any other."""
    return await insert_absent(db[OUTBOX_COLLECTION], [outbox_row(event, now) for event in events])


def _if_absent(row: Document) -> tuple[Document, Document]:
    """Filter and update that write `row` unless its id is there, as an upsert: an insert's
    duplicate key error would abort a caller's transaction."""
    return {"_id": row["_id"]}, {"$setOnInsert": {k: v for k, v in row.items() if k != "_id"}}


async def publish_row(publisher: EventPublisher, row: Document) -> None:
    """Publish a stored event (an outbox row, or an entry kept in a document) under its own id,
    continuing the trace it was written in."""
    with continued(row.get(ROW_TRACE_FIELD)):
        await publisher.publish_body(
            row["body"],
            event_type=row["type"],
            message_id=row["_id"],
            correlation_id=row.get("correlation_id"),
        )


def _duplicate_key(error: BulkWriteError) -> bool:
    errors = error.details.get("writeErrors") or []
    return bool(errors) and all(e.get("code") == _DUPLICATE_KEY for e in errors)


Emitted = tuple[Envelope[Any], str | None]  # an event and its row id (None: the event id)


class Outbox:
    """Where units of work put the events they emit (`add_batch`, inside their transaction)."""

    def __init__(
        self, collection: OutboxCollection, clock: Clock, *, lease_seconds: float = 30.0
    ) -> None:
        self._collection = collection
        self._clock = clock
        self._lease = timedelta(seconds=lease_seconds)
        self._added = asyncio.Event()
        # The relay's gathering "sent" marks (`SentMarks`), which the next write of rows
        # carries in the same command (`take_marks`).
        self._marks: SentMarks | None = None

    def carry_marks(self, marks: SentMarks) -> None:
        """Let writes of new rows carry `marks` (the process's relay calls this)."""
        self._marks = marks

    def take_marks(self) -> list[str]:
        """The row ids gathered for a "sent" mark, for a write of new rows to carry; whoever
        takes them gives back those it did not write (`restore_marks`)."""
        return self._marks.take() if self._marks is not None else []

    def restore_marks(self, row_ids: Sequence[str]) -> None:
        if self._marks is not None:
            self._marks.add(row_ids)

    async def add_batch(
        self,
        emitted: Sequence[Emitted],
        session: AsyncClientSession | None = None,
        *,
        claimed: bool = False,
        marks: Sequence[str] = (),
    ) -> list[Document]:
        """Record every event of `emitted` for publishing, in one command; an id already
        there is left alone (a deterministic id seen twice is exactly the duplicate to drop).

        Upserts rather than inserts: a duplicate key error would abort the caller's
        transaction. A row id other than the event id lets a caller publish the same event once
        more on purpose (an operator re-requesting a send). `claimed`: the rows are leased to
        the caller, who publishes them after its commit (`OutboxRelay.publish_committed`);
        pollers leave them alone until the lease runs out. `marks`: rows published since,
        marked sent by the same command (after the new rows, so a failed write marks nothing).
        Returns the rows written (not the duplicates).
        """
        if not emitted:
            return []
        now = self._clock.now()
        rows = [outbox_row(event, now, row_id) for event, row_id in emitted]
        if claimed:
            claim = str(uuid.uuid4())
            for row in rows:
                row.update(claim=claim, lease_until=now + self._lease, attempts=1)
        if len(rows) == 1 and not marks:
            single = await self._collection.update_one(
                *_if_absent(rows[0]), upsert=True, session=session
            )
            return rows if single.upserted_id is not None else []
        writes = [UpdateOne(*_if_absent(row), upsert=True) for row in rows]
        writes += mark_sent(marks, now)
        result = await self._collection.bulk_write(writes, ordered=True, session=session)
        written = set((result.upserted_ids or {}).values())
        return [row for row in rows if row["_id"] in written]

    async def add(
        self,
        event: Envelope[Any],
        session: AsyncClientSession | None = None,
        *,
        row_id: str | None = None,
    ) -> None:
        """One event, unclaimed: the relay's next pass publishes it."""
        await self.add_batch([(event, row_id)], session)
        if session is None or not session.in_transaction:
            self.notify()

    async def add_claimed(self, event: Envelope[Any], *, row_id: str) -> Document | None:
        """Insert a row already claimed by the caller, who publishes it at once itself
        (`OutboxRelay.publish_claimed`); relays leave it alone until the lease runs out.

        Returns the row, or None when a row with `row_id` exists: a duplicate.
        """
        marks = self.take_marks()
        try:
            rows = await self.add_batch([(event, row_id)], claimed=True, marks=marks)
        except (DuplicateKeyError, BulkWriteError) as error:
            self.restore_marks(marks)  # the write stopped at the row: nothing was marked
            if isinstance(error, BulkWriteError) and not _duplicate_key(error):
                raise
            return None  # a concurrent upsert of the same id won the race
        except BaseException:
            self.restore_marks(marks)
            raise
        return rows[0] if rows else None

    async def adopt(self, rows: Sequence[Document]) -> None:
        """Take over events kept elsewhere (`shared.row_outbox`) that could not be published
        there, as pending rows for the relay (which retries them, or sets aside one no queue
        takes); an id already here is left alone."""
        if not rows:
            return
        await self._collection.bulk_write(
            [UpdateOne(*_if_absent(row), upsert=True) for row in rows], ordered=False
        )
        self.notify()

    def notify(self) -> None:
        """Tell the relay in this process that new rows are committed."""
        self._added.set()

    async def wait_for_new(self, timeout: float) -> None:
        """Wake the relay early when this process added events, else after `timeout`."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._added.wait(), timeout)
        self._added.clear()


def mark_sent(row_ids: Sequence[str], now: datetime) -> list[UpdateOne]:
    """The writes that mark published rows sent (rows still pending only), one per row
    (`shared.mongo.each_document`)."""
    return each_document(
        row_ids,
        {"status": PENDING},
        {"$set": {"status": SENT, "sent_at": now}, "$unset": {"claim": ""}},
    )


class Gathered(Generic[T]):
    """Small cleanup writes (a "sent" mark, an entry to remove), gathered for `delay` seconds
    and written together by `write`, one command for the batch; a write of the same collection
    that comes sooner may take them first (`take`) and carry them in its own command, so in a
    busy process most cost no command of their own.

    Only for writes whose loss is safe: a lost one (a crash, a database error) leaves an event
    whose lease runs out, which a relay publishes again and consumers drop as a repeat.
    """

    def __init__(
        self, write: Callable[[list[T]], Awaitable[object]], delay: float, *, what: str
    ) -> None:
        self._write = write
        self._delay = delay
        self._what = what
        self._pending: list[T] = []
        self._flushing: asyncio.Task[None] | None = None

    def add(self, items: Iterable[T]) -> None:
        self._pending.extend(items)
        if self._pending and (self._flushing is None or self._flushing.done()):
            self._flushing = asyncio.get_running_loop().create_task(self._flush_later())

    def take(self) -> list[T]:
        """What is gathered so far, for another write to carry; whoever takes it gives back
        what it did not write (`add`)."""
        taken, self._pending = self._pending, []
        return taken

    async def _flush_later(self) -> None:
        await asyncio.sleep(self._delay)
        await self.flush()

    async def flush(self) -> None:
        """Write everything gathered now (also at shutdown)."""
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                await self._write(batch)
            except PyMongoError as error:
                log.warning(
                    f"could not write {self._what}; the leases of the events concerned will run "
                    "out and they will be published again (consumers drop the repeats)",
                    events=len(batch),
                    error=type(error).__name__,
                )


class SentMarks(Gathered[str]):
    """ "Sent" marks for published rows, gathered and written with one bulk write: the relay's cost
    per event falls from a command to a fraction of one (`Gathered`)."""

    def __init__(self, collection: OutboxCollection, clock: Clock, delay: float) -> None:
        async def write(batch: list[str]) -> None:
            await collection.bulk_write(mark_sent(batch, clock.now()), ordered=False)

        super().__init__(write, delay, what="sent marks")


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
        self._marks = SentMarks(collection, clock, settings.mark_sent_delay_seconds)
        outbox.carry_marks(self._marks)

    async def relay_once(self) -> int:
        """Claim up to one batch of due rows, publish them, mark them sent (one bulk write for the
        batch); return how many."""
        rows = await self._claim()
        if not rows:
            return 0
        results = await asyncio.gather(*(self._publish(row) for row in rows))
        await self._marks.flush()
        return sum(results)

    async def flush_marks(self) -> None:
        """Write the gathered sent marks now (at shutdown, and for tests)."""
        await self._marks.flush()

    async def publish_committed(self, rows: Sequence[Document]) -> None:
        """Publish rows this process wrote claimed (`Outbox.add_batch(claimed=True)`) and has
        just committed; their sent marks follow shortly in one bulk write. Never raises: the
        transaction is committed, and a row that did not leave is the poller's once its lease
        runs out (or at once, if the publish failed and released it)."""
        try:
            await asyncio.gather(*(self._publish(row) for row in rows))
        except PyMongoError:
            log.warning("could not settle published events; the relay will", exc_info=True)

    async def run(self, stop: asyncio.Event) -> None:
        """Relay until `stop` is set; survives database and broker outages by polling again."""
        try:
            await self._poll(stop)
        finally:
            await self._marks.flush()

    async def _poll(self, stop: asyncio.Event) -> None:
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
        await self._collection.bulk_write(
            each_document(
                candidates,
                due,
                {"$set": {"lease_until": lease_until, "claim": claim}, "$inc": {"attempts": 1}},
            ),
            ordered=False,
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
            await publish_row(self._publisher, row)
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
        self._marks.add([row["_id"]])
        return 1

"""An aggregate's own events, kept in its document until published: the outbox without a
transaction, for a write that changes one document and announces it.

A change to one document that must publish an event would otherwise need a transaction (the
document's update, an outbox row, a commit: three commands). Since MongoDB writes one document
atomically, the event can instead ride in the document itself: the write that records the
change also `$push`es the event's entry (id, type, body, correlation id, trace context, as
`shared.outbox.outbox_row` keeps them) into the document's `pending_events` and sets a lease on
them (`events_lease_until`). The change and its event are then one command, committed together
or not at all.

Right after the write the same process publishes the entries itself (`publish`) and removes them
a moment later with one batched bulk write of pipeline updates (`Gathered`, as the outbox's
sent marks): the next write through `update_one` carries the removals in its own command, else
a timer writes them. The removal also drops the lease once no entry is left, so the sparse
index the poller reads holds only documents with events waiting.

The safety net is a poller (`relay_once`, `run`): documents whose lease ran out (the writer died
between its write and its publish, or before the removal) are claimed with a compare-and-set on
the lease (of several pollers exactly one wins), published and cleaned. A crash anywhere only
delays an event or publishes it again under the same id, which consumers drop (inboxes, or
replay-safe handlers); nothing is lost. A publish that fails hands the entry over to the
service's ordinary outbox (`Outbox.adopt`), whose relay retries it or sets it aside, so a
broker outage or an unroutable event has one place to be handled and seen.

Only for events of one document's change: anything that writes two documents, or events that
belong to no single document, stays with the transactional outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import structlog
from pymongo import ASCENDING, IndexModel, UpdateOne
from pymongo.errors import PyMongoError

from shared.clock import Clock
from shared.config import OutboxSettings
from shared.events import Envelope
from shared.metrics import OUTBOX_PUBLISH_FAILURES
from shared.mongo import Document
from shared.mongo.each_document import each_document
from shared.outbox import PENDING as OUTBOX_PENDING
from shared.outbox import (
    EventPublisher,
    Gathered,
    Outbox,
    OutboxCollection,
    outbox_row,
    publish_row,
)
from shared.tracing import ROW_TRACE_FIELD

log = structlog.get_logger(__name__)

PENDING_EVENTS: Final = "pending_events"
EVENTS_LEASE_UNTIL: Final = "events_lease_until"
# What an entry keeps of the outbox row it would otherwise have been.
_ENTRY_FIELDS: Final = ("_id", "type", "correlation_id", "body", "created_at", ROW_TRACE_FIELD)
# Documents read per backlog refresh: enough to see a stuck relay, bounded if it is.
_BACKLOG_LIMIT: Final = 10_000
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)

# A document and one of its entries to remove (None: only drop a lease left with no entries).
Removal = tuple[Any, str | None]


def pending_events_index() -> IndexModel:
    """For the poller: sparse, so only documents with events waiting are in it (the removal
    drops the lease with the last entry). SecantusDB uses a sparse index for the poller's range
    query but scans the collection for a partial one."""
    return IndexModel([(EVENTS_LEASE_UNTIL, ASCENDING)], name="pending_events", sparse=True)


def entry(event: Envelope[Any], now: datetime) -> Document:
    """The entry `event` is kept as in its document (its trace context included)."""
    row = outbox_row(event, now)
    return {name: row[name] for name in _ENTRY_FIELDS if name in row}


def _outbox_row(kept: Document) -> Document:
    """An entry as a pending row of the service's outbox (`Outbox.adopt`)."""
    return {**kept, "status": OUTBOX_PENDING, "lease_until": _EPOCH, "attempts": 0}


def removal(event_ids: Sequence[str]) -> list[Document]:
    """A pipeline update that removes these entries from the documents and, from a document left
    with none, the lease and the empty list."""
    remaining = {
        "$filter": {
            "input": {"$ifNull": [f"${PENDING_EVENTS}", []]},
            "cond": {"$not": [{"$in": ["$$this._id", list(event_ids)]}]},
        }
    }
    some_left = {"$gt": [{"$size": f"${PENDING_EVENTS}"}, 0]}
    return [
        {"$set": {PENDING_EVENTS: remaining}},
        {
            "$set": {
                PENDING_EVENTS: {"$cond": [some_left, f"${PENDING_EVENTS}", "$$REMOVE"]},
                EVENTS_LEASE_UNTIL: {"$cond": [some_left, f"${EVENTS_LEASE_UNTIL}", "$$REMOVE"]},
            }
        },
    ]


class RowOutbox:
    """The events of one collection's documents: written with their change (`pushing`,
    `update_one`), published right after (`publish`), polled for when that did not happen
    (`relay_once`, `run`). Safe to run in several processes at once."""

    def __init__(
        self,
        collection: OutboxCollection,
        publisher: EventPublisher,
        outbox: Outbox,
        clock: Clock,
        settings: OutboxSettings,
    ) -> None:
        self._collection = collection
        self._publisher = publisher
        self._outbox = outbox
        self._clock = clock
        self._settings = settings
        self._lease = timedelta(seconds=settings.claim_lease_seconds)
        self._removals: Gathered[Removal] = Gathered(
            self._remove, settings.mark_sent_delay_seconds, what="published events' removal"
        )

    @property
    def name(self) -> str:
        return self._collection.name

    def pushing(
        self, update: Document, events: Sequence[Envelope[Any]]
    ) -> tuple[Document, list[Document]]:
        """`update` that also keeps `events` in the document, leased to this process (which
        publishes them after the write); and their entries, for `publish`."""
        now = self._clock.now()
        entries = [entry(event, now) for event in events]
        if not entries:
            return update, []
        return {
            **update,
            "$push": {**update.get("$push", {}), PENDING_EVENTS: {"$each": entries}},
            "$set": {**update.get("$set", {}), EVENTS_LEASE_UNTIL: now + self._lease},
        }, entries

    async def update_one(self, query: Document, update: Document) -> bool:
        """One conditional update of a document; True when it matched. Removals gathered since
        ride in the same command (after it, in one ordered bulk write).

        A bulk write reports one count for all its updates, so the removal's documents are
        subtracted from it: each exists (it had an entry), and if one was deleted meanwhile
        this update reads as not matched — the caller then finds the document already changed
        and its events wait for the poller: a delay, never a lost or doubled change."""
        carried = self._removals.take()
        if not carried:
            result = await self._collection.update_one(query, update)
            return result.matched_count == 1
        rows = {row for row, _ in carried}
        try:
            bulk = await self._collection.bulk_write(
                [UpdateOne(query, update), *self._removal_writes(carried)],
                ordered=True,
            )
        except BaseException:
            self._removals.add(carried)  # removing twice is harmless
            raise
        return bulk.matched_count - len(rows) == 1

    async def publish(self, row_id: Any, entries: Sequence[Document]) -> int:
        """Publish entries this process wrote (or claimed) and remove them shortly after; an
        entry that does not leave goes over to the service's outbox. Returns how many left
        here. Never raises: the write stands, and whatever is not settled here waits in the
        document for the poller."""
        if not entries:
            self._removals.add([(row_id, None)])
            return 0
        results = await asyncio.gather(*(self._publish(e) for e in entries))
        settled = [e for e, ok in zip(entries, results, strict=True) if ok]
        failed = [e for e, ok in zip(entries, results, strict=True) if not ok]
        if failed:
            try:
                await self._outbox.adopt([_outbox_row(e) for e in failed])
                settled += failed
            except PyMongoError:
                log.warning(
                    "could not hand unpublished events to the outbox; they wait for the poller",
                    events=len(failed),
                    exc_info=True,
                )
        self._removals.add([(row_id, e["_id"]) for e in settled])
        return len(entries) - len(failed)

    async def relay_once(self) -> int:
        """Claim the documents whose events' lease ran out (up to one batch), publish their
        events and remove them; returns how many were published."""
        now = self._clock.now()
        due = (
            await self._collection.find(
                {EVENTS_LEASE_UNTIL: {"$lte": now}}, {PENDING_EVENTS: 1, EVENTS_LEASE_UNTIL: 1}
            )
            .limit(self._settings.batch_size)
            .to_list()
        )
        if not due:
            return 0
        claimed = await asyncio.gather(*(self._claim(row, now) for row in due))
        published = await asyncio.gather(
            *(
                self.publish(row["_id"], row.get(PENDING_EVENTS) or [])
                for row, ours in zip(due, claimed, strict=True)
                if ours
            )
        )
        await self._removals.flush()
        return sum(published)

    async def flush(self) -> None:
        """Write the gathered removals now (at shutdown, and for tests)."""
        await self._removals.flush()

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until `stop` is set; survives database and broker outages by polling again."""
        try:
            while not stop.is_set():
                try:
                    published = await self.relay_once()
                except PyMongoError:
                    log.warning("row outbox poll failed; retrying", collection=self.name)
                    published = 0
                except Exception:
                    # Nothing may stop the poller: a dead one strands every event after it.
                    log.exception("row outbox poll failed; retrying", collection=self.name)
                    published = 0
                if published >= self._settings.batch_size:
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self._settings.poll_interval_seconds)
        finally:
            await self._removals.flush()

    async def backlog(self) -> tuple[int, datetime | None]:
        """Events kept in documents, not yet removed (published or not), and when the oldest
        was written: the same as an outbox's pending rows, for its backlog gauges."""
        cursor = self._collection.find(
            {EVENTS_LEASE_UNTIL: {"$gte": _EPOCH}},
            {f"{PENDING_EVENTS}.created_at": 1},
        ).limit(_BACKLOG_LIMIT)
        count = 0
        oldest: datetime | None = None
        async for row in cursor:
            for kept in row.get(PENDING_EVENTS) or []:
                count += 1
                created = kept.get("created_at")
                if created is not None and (oldest is None or created < oldest):
                    oldest = created
        return count, oldest

    async def _claim(self, row: Document, now: datetime) -> bool:
        """Compare-and-set on the lease read: of pollers racing for a document one matches, and
        a write that pushed a new entry meanwhile (a new lease) wins over all of them."""
        result = await self._collection.update_one(
            {"_id": row["_id"], EVENTS_LEASE_UNTIL: row[EVENTS_LEASE_UNTIL]},
            {"$set": {EVENTS_LEASE_UNTIL: now + self._lease}},
        )
        return result.matched_count == 1

    async def _publish(self, kept: Document) -> bool:
        try:
            await publish_row(self._publisher, kept)
        except Exception as error:
            OUTBOX_PUBLISH_FAILURES.labels(kept["type"]).inc()
            log.warning(
                "event not published; handing it to the outbox",
                event_id=kept["_id"],
                event_type=kept["type"],
                error=type(error).__name__,
            )
            return False
        return True

    def _removal_writes(self, removals: Sequence[Removal]) -> list[UpdateOne]:
        """One update per document (`shared.mongo.each_document`)."""
        ids = [event_id for _, event_id in removals if event_id is not None]
        return each_document((row for row, _ in removals), {}, removal(ids))

    async def _remove(self, removals: list[Removal]) -> None:
        await self._collection.bulk_write(self._removal_writes(removals), ordered=False)

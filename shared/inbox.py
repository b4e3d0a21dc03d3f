"""Idempotent consumer: an event's effect happens once however often the broker delivers it.

The inbox row (unique per consumer and event id), the handler's state changes and the events it
emits commit in one transaction: a redelivery hits the unique key and is acknowledged as
`AlreadyProcessed`, and a crash part-way leaves nothing behind to repair. A planned handler whose
first write is a record keyed by what the event is about may stand as its own inbox
(`RecordsItself`, `Inbox.planned_with_own_record`): the same promise, one write less.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, Generic, Protocol, TypeVar

import structlog
from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import ConnectionFailure, DuplicateKeyError, PyMongoError

from shared.broker.consumer import AlreadyProcessed, maybe_handled_before
from shared.clock import Clock
from shared.events import Envelope
from shared.mongo import Document, IndexDeclarations
from shared.unit_of_work import PlannedHandler, StalePlan, Transactions, U, U_contra

log = structlog.get_logger(__name__)

INBOX_COLLECTION = "inbox"
# Plans made again in-process when their inputs moved on underneath; then the broker retries.
MAX_PLANS = 3

P = TypeVar("P")
PlanT = TypeVar("PlanT")


# How long a replay-safe handler rides out a database outage: as long as a transaction does
# (PyMongo's `with_transaction` retries a transient error for 120 s), so an event is not parked
# for an outage the inbox's transaction would have survived.
REPLAY_SAFE_RETRY_SECONDS = 120.0
_FIRST_RETRY_SECONDS = 0.05
_LONGEST_RETRY_SECONDS = 1.0


def replay_safe(
    handler: Callable[[Envelope[P]], Awaitable[None]],
) -> Callable[[Envelope[P]], Awaitable[None]]:
    """A handler that needs no inbox row and no transaction (docs/platform.md: it emits
    nothing, and running it again changes nothing), run again on a lost database connection
    until `REPLAY_SAFE_RETRY_SECONDS` have passed — safe because running it again is harmless."""
    return _riding_out_outages(handler)


def _riding_out_outages(
    handler: Callable[[Envelope[P]], Awaitable[None]],
) -> Callable[[Envelope[P]], Awaitable[None]]:
    """`handler`, run again in process while the database is unreachable, for as long as a
    transaction would wait: an outage says nothing about the event, so it must not spend the
    event's broker retries (a few seconds in all) and park it. Safe for every handler the inbox
    wraps, as for a redelivery: a run whose commit went through before the connection was lost
    meets its own inbox row (or record) the next time and ends as AlreadyProcessed."""

    async def run(event: Envelope[P]) -> None:
        deadline = time.monotonic() + REPLAY_SAFE_RETRY_SECONDS
        pause = _FIRST_RETRY_SECONDS
        while True:
            try:
                await handler(event)
                return
            except PyMongoError as error:
                transient = isinstance(error, ConnectionFailure) or error.has_error_label(
                    "RetryableWriteError"
                )
                if not transient or time.monotonic() + pause > deadline:
                    raise
                log.warning(
                    "database unreachable; trying the event again", error=type(error).__name__
                )
            await asyncio.sleep(pause)
            pause = min(pause * 2, _LONGEST_RETRY_SECONDS)

    return run


def inbox_indexes(retention_days: float) -> IndexDeclarations:
    return {
        INBOX_COLLECTION: [
            IndexModel(
                [("processed_at", ASCENDING)],
                name="processed_ttl",
                expireAfterSeconds=int(retention_days * 86_400),
            )
        ]
    }


class RecordsItself(PlannedHandler[P, PlanT, U_contra], Protocol[P, PlanT, U_contra]):
    """A planned handler whose apply writes, first, a record keyed by what the event is about
    (an inbound SMS by its provider sid, which ingress makes one event of) and raises
    `AlreadyProcessed` when it finds that record written already — inside the transaction, so
    nothing of the repeat stays. That record stands in for the inbox row."""

    async def handled(self, event: Envelope[P]) -> bool:
        """Whether the event's record is written (its effect is applied)."""
        ...


class Inbox(Generic[U]):
    """Wraps handlers so the consumer runtime can call them with just the event."""

    def __init__(
        self,
        transactions: Transactions[U],
        collection: AsyncCollection[Document],
        clock: Clock,
        *,
        consumer: str,
    ) -> None:
        self._transactions = transactions
        self._collection = collection
        self._clock = clock
        self._consumer = consumer

    def idempotent(
        self, handler: Callable[[Envelope[P], U], Awaitable[None]]
    ) -> Callable[[Envelope[P]], Awaitable[None]]:
        async def run(event: Envelope[P]) -> None:
            await self._transaction(event, lambda uow: handler(event, uow))

        return _riding_out_outages(run)

    def planned(
        self, handler: PlannedHandler[P, PlanT, U]
    ) -> Callable[[Envelope[P]], Awaitable[None]]:
        """`handler.plan` outside the transaction, `handler.apply` inside it with the inbox row;
        a `StalePlan` makes the plan again, up to `MAX_PLANS` times, then goes to the broker's
        retry. A redelivery or retry of an applied event is recognised before any planning, so
        the slow work (an LLM call) is not paid for twice; a first delivery skips that read."""

        return self._planned(handler, self._has_row, inbox_row=True)

    def planned_with_own_record(
        self, handler: RecordsItself[P, PlanT, U]
    ) -> Callable[[Envelope[P]], Awaitable[None]]:
        """`planned`, with the handler's own record for the inbox row (`RecordsItself`): no
        inbox row is read or written, one insert less per event, and a repeat is recognised
        for as long as the record is kept rather than for the inbox's retention."""
        return self._planned(handler, handler.handled, inbox_row=False)

    def _planned(
        self,
        handler: PlannedHandler[P, PlanT, U],
        handled: Callable[[Envelope[P]], Awaitable[bool]],
        *,
        inbox_row: bool,
    ) -> Callable[[Envelope[P]], Awaitable[None]]:
        async def run(event: Envelope[P]) -> None:
            if maybe_handled_before() and await handled(event):
                raise AlreadyProcessed
            for attempt in range(1, MAX_PLANS + 1):
                plan = await handler.plan(event)

                async def apply(uow: U, plan: PlanT = plan) -> None:
                    await handler.apply(event, plan, uow)

                try:
                    await self._transaction(event, apply, inbox_row=inbox_row)
                except StalePlan:
                    log.info("plan went stale; planning again", attempt=attempt)
                    continue
                return
            raise StalePlan(f"the plan went stale {MAX_PLANS} times")

        return _riding_out_outages(run)

    async def _has_row(self, event: Envelope[Any]) -> bool:
        return await self._collection.find_one({"_id": self._row_id(event)}, {"_id": 1}) is not None

    def _row_id(self, event: Envelope[Any]) -> str:
        return f"{self._consumer}:{event.id}"

    async def _transaction(
        self,
        event: Envelope[Any],
        body: Callable[[U], Awaitable[None]],
        *,
        inbox_row: bool = True,
    ) -> None:
        row = {
            "_id": self._row_id(event),
            "event_type": event.type,
            "processed_at": self._clock.now(),
        }

        async def with_row(session: AsyncClientSession, uow: U) -> None:
            if inbox_row:
                try:
                    await self._collection.insert_one(row, session=session)
                except DuplicateKeyError:
                    raise AlreadyProcessed from None
            await body(uow)

        await self._transactions.run_in_session(with_row)

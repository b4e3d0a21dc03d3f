"""Idempotent consumer: an event's effect happens once however often the broker delivers it.

The inbox row (unique per consumer and event id), the handler's state changes and the events it
emits commit in one transaction: a redelivery hits the unique key and is acknowledged as
`AlreadyProcessed`, and a crash part-way leaves nothing behind to repair.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import structlog
from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from shared.broker.consumer import AlreadyProcessed, maybe_handled_before
from shared.clock import Clock
from shared.events import Envelope
from shared.mongo import Document, IndexDeclarations
from shared.unit_of_work import PlannedHandler, StalePlan, Transactions, U

log = structlog.get_logger(__name__)

INBOX_COLLECTION = "inbox"
# Plans made again in-process when their inputs moved on underneath; then the broker retries.
MAX_PLANS = 3

P = TypeVar("P")
PlanT = TypeVar("PlanT")


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

        return run

    def planned(
        self, handler: PlannedHandler[P, PlanT, U]
    ) -> Callable[[Envelope[P]], Awaitable[None]]:
        """`handler.plan` outside the transaction, `handler.apply` inside it with the inbox row;
        a `StalePlan` makes the plan again, up to `MAX_PLANS` times, then goes to the broker's
        retry. A redelivery or retry of an applied event is recognised before any planning, so
        the slow work (an LLM call) is not paid for twice; a first delivery skips that read."""

        async def run(event: Envelope[P]) -> None:
            if maybe_handled_before() and await self._collection.find_one(
                {"_id": self._row_id(event)}, {"_id": 1}
            ):
                raise AlreadyProcessed
            for attempt in range(1, MAX_PLANS + 1):
                plan = await handler.plan(event)

                async def apply(uow: U, plan: PlanT = plan) -> None:
                    await handler.apply(event, plan, uow)

                try:
                    await self._transaction(event, apply)
                except StalePlan:
                    log.info("plan went stale; planning again", attempt=attempt)
                    continue
                return
            raise StalePlan(f"the plan went stale {MAX_PLANS} times")

        return run

    def _row_id(self, event: Envelope[Any]) -> str:
        return f"{self._consumer}:{event.id}"

    async def _transaction(
        self, event: Envelope[Any], body: Callable[[U], Awaitable[None]]
    ) -> None:
        row = {
            "_id": self._row_id(event),
            "event_type": event.type,
            "processed_at": self._clock.now(),
        }

        async def with_row(session: AsyncClientSession, uow: U) -> None:
            try:
                await self._collection.insert_one(row, session=session)
            except DuplicateKeyError:
                raise AlreadyProcessed from None
            await body(uow)

        await self._transactions.run_in_session(with_row)

"""Idempotent consumer: an event's effect happens once however often the broker delivers it.

With transactions, the inbox row (unique per consumer and event id), the handler's state changes
and the events it emits commit together: a redelivery hits the unique key and is acknowledged as
`AlreadyProcessed`. Without transactions (a standalone server), the handler must write
idempotently, keyed by the event id; the inbox row is written *after* the handler, so a crash in
between replays the handler, which is harmless, instead of losing the effect.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from shared.broker.consumer import AlreadyProcessed
from shared.clock import Clock
from shared.events import Envelope
from shared.mongo import Document, IndexDeclarations, MongoClient
from shared.outbox import Outbox

INBOX_COLLECTION = "inbox"

P = TypeVar("P")


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


class UnitOfWork:
    """What a handler needs to make its effects atomic: the session every write must pass, and
    `emit` for follow-up events, which go to the outbox inside the same transaction."""

    def __init__(self, session: AsyncClientSession | None, outbox: Outbox) -> None:
        self.session = session
        self._outbox = outbox

    async def emit(self, event: Envelope[Any]) -> None:
        await self._outbox.add(event, self.session)


TransactionalHandler = Callable[[Envelope[P], UnitOfWork], Awaitable[None]]


class Inbox:
    def __init__(
        self,
        client: MongoClient,
        collection: AsyncCollection[Document],
        outbox: Outbox,
        clock: Clock,
        *,
        consumer: str,
        transactions: bool,
    ) -> None:
        self._client = client
        self._collection = collection
        self._outbox = outbox
        self._clock = clock
        self._consumer = consumer
        self._transactions = transactions

    def idempotent(
        self, handler: TransactionalHandler[P]
    ) -> Callable[[Envelope[P]], Awaitable[None]]:
        """Wrap `handler` so the consumer runtime can call it with just the event."""

        async def run(event: Envelope[P]) -> None:
            if self._transactions:
                await self._run_in_transaction(handler, event)
            else:
                await self._run_idempotently(handler, event)

        return run

    def _row(self, event: Envelope[Any]) -> Document:
        return {
            "_id": f"{self._consumer}:{event.id}",
            "event_type": event.type,
            "processed_at": self._clock.now(),
        }

    async def _run_in_transaction(
        self, handler: TransactionalHandler[P], event: Envelope[P]
    ) -> None:
        row = self._row(event)

        async def body(session: AsyncClientSession) -> None:
            try:
                await self._collection.insert_one(row, session=session)
            except DuplicateKeyError:
                raise AlreadyProcessed from None
            await handler(event, UnitOfWork(session, self._outbox))

        async with self._client.start_session() as session:
            await session.with_transaction(body)
        self._outbox.notify()

    async def _run_idempotently(self, handler: TransactionalHandler[P], event: Envelope[P]) -> None:
        row = self._row(event)
        if await self._collection.find_one({"_id": row["_id"]}, {"_id": 1}) is not None:
            raise AlreadyProcessed
        await handler(event, UnitOfWork(None, self._outbox))
        # A concurrent delivery may have finished first; both ran idempotent writes.
        with contextlib.suppress(DuplicateKeyError):
            await self._collection.insert_one(row)

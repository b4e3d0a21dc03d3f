"""One unit of writes: a transaction where the deployment has them, plain writes where not.

Callers write the body so that it is also correct without a transaction (ordered, idempotent
writes a redo repairs), which is how every service here runs against a standalone server.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from pymongo.asynchronous.client_session import AsyncClientSession

from shared.mongo.client import MongoClient

Session = AsyncClientSession | None


class Atomic(Protocol):
    """Runs `body` in one transaction when the deployment has them, else plainly (the body's
    writes are then ordered and idempotent so a crash part-way is repaired by a redo)."""

    async def __call__(self, body: Callable[[Session], Awaitable[None]]) -> None: ...


def atomic_writes(client: MongoClient, transactions: bool) -> Atomic:
    async def run(body: Callable[[Session], Awaitable[None]]) -> None:
        if not transactions:
            await body(None)
            return
        async with client.start_session() as session:
            await session.with_transaction(body)

    return run

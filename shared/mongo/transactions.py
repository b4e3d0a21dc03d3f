"""One unit of writes: a MongoDB transaction, committed whole or not at all.

Every service runs on a deployment with transactions (start-up refuses one without:
`require_transactions`), so a body never has to be correct half-applied.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from pymongo.asynchronous.client_session import AsyncClientSession

from shared.mongo.client import MongoClient

# Stores not yet behind a unit of work still accept "no session" for a single plain write.
Session = AsyncClientSession | None
_T = TypeVar("_T")


class Atomic(Protocol):
    """Runs `body` in one transaction (retried whole on a transient transaction error)."""

    async def __call__(self, body: Callable[[AsyncClientSession], Awaitable[_T]]) -> _T: ...


def atomic_writes(client: MongoClient) -> Atomic:
    async def run(body: Callable[[AsyncClientSession], Awaitable[_T]]) -> _T:
        async with client.start_session() as session:
            result: _T = await session.with_transaction(body)
            return result

    return run

"""The scheduler's repositories twice over, for the contract tests: the in-memory fake and the
Mongo implementation on a real server, behind the same protocols. A contract test takes
`backend` and runs once against each."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from services.scheduler.repositories import SCHEDULER_INDEXES
from services.scheduler.unit_of_work import (
    MongoSchedulerStore,
    SchedulerStore,
    SchedulerTransactions,
    scheduler_work,
)
from shared.clock import ManualClock
from shared.mongo import Database, MongoClient, ensure_indexes
from shared.outbox import OUTBOX_COLLECTION, Outbox
from shared.unit_of_work import Transactions
from tests.fakes.scheduler import FakeSchedulerWork

# Whole milliseconds: BSON keeps no finer time, so records round-trip exactly.
CONTRACT_NOW = datetime(2026, 1, 15, 15, 0, 0, 123_000, tzinfo=UTC)


@dataclass
class Backend:
    """One implementation of the scheduler's repositories and transactions."""

    store: SchedulerStore
    transactions: SchedulerTransactions
    # The ids of the events emitted by committed transactions.
    emitted: Callable[[], Awaitable[set[str]]]


@pytest.fixture(params=["fake", "mongo"])
async def backend(
    request: pytest.FixtureRequest, db: Database, mongo_client: MongoClient
) -> Backend:
    if request.param == "fake":
        work = FakeSchedulerWork()

        async def emitted_in_memory() -> set[str]:
            return {str(event.id) for event in work.emitted}

        return Backend(work, work, emitted_in_memory)
    await ensure_indexes(db, SCHEDULER_INDEXES)
    outbox = Outbox(db[OUTBOX_COLLECTION], ManualClock(CONTRACT_NOW))

    async def emitted_to_outbox() -> set[str]:
        return {str(row["_id"]) async for row in db[OUTBOX_COLLECTION].find({}, {"_id": 1})}

    return Backend(
        MongoSchedulerStore(db),
        Transactions(mongo_client, outbox, scheduler_work(db)),
        emitted_to_outbox,
    )

"""What scheduler code may touch: typed repositories of records, and `emit`.

Handlers (and the tick's claim) take `SchedulerWork`, one transaction; the tick's lease, due scan
and run log use `SchedulerStore`, the same kind of repositories outside any transaction. Both
the Mongo classes here and the in-memory fake (`tests/fakes/scheduler.py`) satisfy them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from datetime import datetime
from typing import Protocol, TypeVar

from pymongo.asynchronous.client_session import AsyncClientSession

from services.scheduler.records import ProactiveRecord, TickRun
from services.scheduler.repositories import (
    MongoProactiveStates,
    MongoTickLeases,
    MongoTickRuns,
)
from shared.mongo import Database
from shared.outbox import Outbox
from shared.unit_of_work import Emits, UnitOfWork, UnitOfWorkFactory

_T = TypeVar("_T")


class ProactiveStates(Protocol):
    """`proactive_state`: one record per user (placeholders keyed `phone:<E.164>`)."""

    async def get(self, user_id: str) -> ProactiveRecord | None: ...

    async def get_many(self, user_ids: Collection[str]) -> dict[str, ProactiveRecord]:
        """The stored records of `user_ids` in one read, by id; ids with none are left out
        (a profile snapshot reads its user and its number's placeholder together)."""
        ...

    async def with_phone(self, phone: str) -> list[ProactiveRecord]:
        """Every record of `phone` (a user and, until the profile arrives, a placeholder)."""
        ...

    async def due(self, now: datetime, limit: int) -> list[ProactiveRecord]:
        """Records with `next_due_at <= now`, earliest first, at most `limit`."""
        ...

    async def save(self, record: ProactiveRecord) -> bool:
        """Write `record` with its revision raised by one, if the stored record is still at
        `record.revision` (0: none stored); False when another write came first."""
        ...

    async def set_next_due(self, record: ProactiveRecord, next_due_at: datetime | None) -> bool:
        """Set only `next_due_at`, if the stored record is still at `record.revision`; the
        revision stays (no fact changed)."""
        ...

    async def delete(self, user_id: str) -> None: ...


class TickLeases(Protocol):
    """Which replica ticks: a named lease with a holder and an expiry."""

    async def take(self, name: str, holder: str, now: datetime, until: datetime) -> bool:
        """Hold `name` until `until` if it is free, expired at `now`, or held by `holder`."""
        ...


class TickRuns(Protocol):
    """The log of ticks that held the lease."""

    async def record(self, run: TickRun) -> None: ...

    async def latest(self) -> TickRun | None:
        """The run that started last (for operators and tests)."""
        ...


class SchedulerWork(Emits, Protocol):
    """One transaction of the scheduler: a consumed event, or the tick claiming one user."""

    states: ProactiveStates


class SchedulerStore(Protocol):
    """The scheduler's repositories outside any transaction (the tick's reads and its log)."""

    states: ProactiveStates
    leases: TickLeases
    runs: TickRuns


class SchedulerTransactions(Protocol):
    """Runs a body in one transaction with a fresh `SchedulerWork` (`Transactions.run`)."""

    async def run(self, body: Callable[[SchedulerWork], Awaitable[_T]]) -> _T: ...


class MongoSchedulerWork(UnitOfWork):
    def __init__(self, db: Database, session: AsyncClientSession, outbox: Outbox) -> None:
        super().__init__(session, outbox)
        self.states: ProactiveStates = MongoProactiveStates(db, session)


def scheduler_work(db: Database) -> UnitOfWorkFactory[MongoSchedulerWork]:
    """The factory `runtime.transactions` (or `Transactions`) builds each unit of work with."""

    def build(session: AsyncClientSession, outbox: Outbox) -> MongoSchedulerWork:
        return MongoSchedulerWork(db, session, outbox)

    return build


class MongoSchedulerStore:
    def __init__(self, db: Database) -> None:
        self.states: ProactiveStates = MongoProactiveStates(db, None)
        self.leases: TickLeases = MongoTickLeases(db)
        self.runs: TickRuns = MongoTickRuns(db)

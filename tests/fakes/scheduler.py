"""The scheduler's unit of work in memory, for handler and tick tests that run in milliseconds.

`FakeSchedulerWork` is both a `SchedulerWork` (inside `run`) and a `SchedulerStore` (the tick's
reads outside a transaction), and `run` makes it the tick's `SchedulerTransactions`. Its
repositories keep the real ones' semantics (compare-and-set on `revision`, due records earliest
first); the contract tests in `tests/integration/scheduler/test_*_contract.py` hold both to
them. Reach the repositories through the attributes each time: `run` restores them (replaces
the objects) when its body raises.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from datetime import datetime

from services.scheduler.records import ProactiveRecord, TickRun
from services.scheduler.unit_of_work import ProactiveStates, TickLeases, TickRuns
from tests.fakes.unit_of_work import FakeUnitOfWork


class FakeProactiveStates:
    def __init__(self) -> None:
        self._records: dict[str, ProactiveRecord] = {}

    def _at(self, record: ProactiveRecord) -> bool:
        stored = self._records.get(record.user_id)
        return (stored.revision if stored is not None else 0) == record.revision

    async def get(self, user_id: str) -> ProactiveRecord | None:
        return self._records.get(user_id)

    async def get_many(self, user_ids: Collection[str]) -> dict[str, ProactiveRecord]:
        return {user_id: self._records[user_id] for user_id in user_ids if user_id in self._records}

    async def with_phone(self, phone: str) -> list[ProactiveRecord]:
        return [record for record in self._records.values() if record.phone == phone]

    async def due(self, now: datetime, limit: int) -> list[ProactiveRecord]:
        due = [
            record
            for record in self._records.values()
            if record.next_due_at is not None and record.next_due_at <= now
        ]
        return sorted(due, key=lambda record: record.next_due_at or now)[:limit]

    async def save(self, record: ProactiveRecord) -> bool:
        if not self._at(record):
            return False
        self._records[record.user_id] = replace(record, revision=record.revision + 1)
        return True

    async def set_next_due(self, record: ProactiveRecord, next_due_at: datetime | None) -> bool:
        stored = self._records.get(record.user_id)
        if stored is None or not self._at(record):
            return False
        self._records[record.user_id] = replace(stored, next_due_at=next_due_at)
        return True

    async def delete(self, user_id: str) -> None:
        self._records.pop(user_id, None)


class FakeTickLeases:
    def __init__(self) -> None:
        self._held: dict[str, tuple[str, datetime]] = {}

    async def take(self, name: str, holder: str, now: datetime, until: datetime) -> bool:
        current = self._held.get(name)
        if current is not None and current[0] != holder and current[1] > now:
            return False
        self._held[name] = (holder, until)
        return True


class FakeTickRuns:
    def __init__(self) -> None:
        self._runs: list[TickRun] = []

    async def record(self, run: TickRun) -> None:
        self._runs.append(run)

    async def latest(self) -> TickRun | None:
        # The last recorded of those that started last, as the real log's tie-break does.
        return max(reversed(self._runs), key=lambda run: run.started_at, default=None)


class FakeSchedulerWork(FakeUnitOfWork):
    def __init__(self) -> None:
        super().__init__()
        self.states: ProactiveStates = FakeProactiveStates()
        self.leases: TickLeases = FakeTickLeases()
        self.runs: TickRuns = FakeTickRuns()

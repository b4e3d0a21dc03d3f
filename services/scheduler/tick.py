"""One scheduler tick: take the users that are due, decide, claim the 24 h slot, emit, advance.

Only one replica ticks at a time (a lease in `scheduler_leases`). The due users are read outside
any transaction; each claim then runs in a transaction of its own that saves the claimed record
only if it is still at the `revision` the decision read, together with the event's outbox row.
So even two overlapping replicas cannot give a user two messages, nor one decided from a state
that changed meanwhile. The cost of a tick follows the number of due users (an index on
`next_due_at`), not all users.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import structlog
from pymongo.errors import PyMongoError

from services.scheduler.domain.rules import Churn, Skip, claim, evaluate, next_due_at
from services.scheduler.metrics import (
    SCHEDULER_CHURNED,
    SCHEDULER_DUE,
    SCHEDULER_LAST_TICK,
    SCHEDULER_SENT,
    SCHEDULER_SKIPPED,
    SCHEDULER_TICK_SECONDS,
)
from services.scheduler.records import LatestClaim, ProactiveRecord, TickReport, TickRun
from services.scheduler.unit_of_work import SchedulerStore, SchedulerTransactions, SchedulerWork
from shared.clock import Clock
from shared.events import Envelope, new_event
from shared.events.catalog import ProactiveMessageDue, UserChurned

log = structlog.get_logger(__name__)

_TICK_LEASE = "tick"


class LostRace(Exception):
    """The record changed after the tick read it: the claim is not made (its transaction is
    abandoned), and the record is decided again from its new state."""


class Scheduler:
    def __init__(
        self,
        store: SchedulerStore,
        transactions: SchedulerTransactions,
        clock: Clock,
        *,
        holder: str,
        batch_size: int,
        lease_seconds: float,
        subscriptions_enabled: bool,
    ) -> None:
        self._store = store
        self._transactions = transactions
        self._clock = clock
        self._holder = holder
        self._batch_size = batch_size
        self._lease = timedelta(seconds=lease_seconds)
        self._subscriptions_enabled = subscriptions_enabled

    async def tick(self) -> TickReport | None:
        """One pass over the due users; None when another replica holds the lease."""
        now = self._clock.now()
        if not await self._store.leases.take(_TICK_LEASE, self._holder, now, now + self._lease):
            return None
        started = time.perf_counter()
        report = TickReport()
        try:
            for record in await self._store.states.due(now, self._batch_size):
                report.due += 1
                SCHEDULER_DUE.inc()
                await self.process(record, now, report)
            await self._store.runs.record(TickRun(now, self._holder, report))
            # Wall-clock time, whatever the clock: Prometheus compares it with its own `time()`.
            SCHEDULER_LAST_TICK.set(time.time())
        finally:
            SCHEDULER_TICK_SECONDS.observe(time.perf_counter() - started)
        if report.due:
            log.info("scheduler tick", **report.__dict__)
        return report

    async def process(self, record: ProactiveRecord, now: datetime, report: TickReport) -> None:
        """Decide for one due user as `record` has it, and claim what the rules say."""
        facts = record.facts(subscriptions_enabled=self._subscriptions_enabled)
        outcome = evaluate(facts, now)
        if isinstance(outcome, Skip):
            report.skipped += 1
            SCHEDULER_SKIPPED.labels(outcome.value).inc()
            # Only if nothing changed since the read; whoever changed it recomputed it.
            await self._store.states.set_next_due(record, next_due_at(facts, now))
        elif isinstance(outcome, Churn):
            churned = replace(
                record.with_state(journey_phase="churned"), next_due_at=None, churned_at=now
            )
            churn: Envelope[Any] = new_event(
                UserChurned(user_id=record.user_id, phone=record.phone, churned_at=now),
                idempotency_key=f"churned:{record.user_id}:{record.state.last_reactivation_at}",
                occurred_at=now,
            )
            if await self._claim(churned, churn, report):
                report.churned += 1
                SCHEDULER_CHURNED.inc()
        else:
            after, taken = claim(record.state, outcome, now)
            claimed = replace(record, state=after, claim=LatestClaim(taken)).rescheduled(
                now, subscriptions_enabled=self._subscriptions_enabled
            )
            due: Envelope[Any] = new_event(
                ProactiveMessageDue(
                    user_id=record.user_id,
                    phone=record.phone,
                    kind=outcome.kind.value,
                    stage=outcome.stage,
                    due_at=now,
                ),
                idempotency_key=outcome.idempotency_key,
                occurred_at=now,
            )
            if await self._claim(claimed, due, report):
                report.sent += 1
                SCHEDULER_SENT.labels(outcome.kind.value).inc()

    async def _claim(
        self, changed: ProactiveRecord, event: Envelope[Any], report: TickReport
    ) -> bool:
        """Save `changed` (a compare-and-set on the revision it was read at) and emit `event`,
        in one transaction; False when another write came first."""

        async def claim_and_emit(uow: SchedulerWork) -> None:
            if not await uow.states.save(changed):
                raise LostRace
            await uow.emit(event)

        try:
            await self._transactions.run(claim_and_emit)
        except LostRace:
            report.lost_races += 1
            SCHEDULER_SKIPPED.labels("lost_race").inc()
            return False
        return True

    async def run(self, stop: asyncio.Event, interval_seconds: float) -> None:
        """Tick every `interval_seconds` until `stop`; a failed tick is logged and retried."""
        while not stop.is_set():
            try:
                await self.tick()
            except PyMongoError:
                log.warning("scheduler tick failed; retrying next interval", exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval_seconds)

"""One scheduler tick: take the users that are due, decide, claim the 24 h slot, emit, advance.

Only one replica ticks at a time (a lease in `scheduler_leases`); even if two overlap, the slot
claim is a compare-and-set on the document's `revision` as the decision read it, so a user
cannot get two messages, nor one decided from a state that changed meanwhile, and the emitted
event's id derives from its idempotency key, so a replayed emission is a duplicate. The claim
and its event's outbox row are written in one transaction.
The cost of a tick follows the number of due users (an index on `next_due_at`), not all users.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import PyMongoError

from services.scheduler.metrics import (
    SCHEDULER_CHURNED,
    SCHEDULER_DUE,
    SCHEDULER_SENT,
    SCHEDULER_SKIPPED,
    SCHEDULER_TICK_SECONDS,
)
from services.scheduler.rules import (
    Churn,
    Decision,
    ProactiveState,
    Skip,
    claim,
    evaluate,
    next_due_at,
)
from services.scheduler.state import (
    CLAIM,
    PROACTIVE_STATE,
    REVISION,
    claim_document,
    counter_fields,
    to_rules_state,
)
from shared.clock import Clock
from shared.events import Envelope, new_event
from shared.events.catalog import ProactiveMessageDue, UserChurned
from shared.mongo import Database, Document, MongoClient
from shared.outbox import Outbox

log = structlog.get_logger(__name__)

LEASES = "scheduler_leases"
RUNS = "scheduler_runs"
_TICK_LEASE = "tick"


@dataclass
class TickReport:
    due: int = 0
    sent: int = 0
    churned: int = 0
    skipped: int = 0
    lost_races: int = 0


class Scheduler:
    def __init__(
        self,
        db: Database,
        outbox: Outbox,
        clock: Clock,
        *,
        holder: str,
        batch_size: int,
        lease_seconds: float,
        subscriptions_enabled: bool,
    ) -> None:
        self._client: MongoClient = db.client
        self._states: AsyncCollection[Document] = db[PROACTIVE_STATE]
        self._leases: AsyncCollection[Document] = db[LEASES]
        self._runs: AsyncCollection[Document] = db[RUNS]
        self._outbox = outbox
        self._clock = clock
        self._holder = holder
        self._batch_size = batch_size
        self._lease = timedelta(seconds=lease_seconds)
        self._subscriptions_enabled = subscriptions_enabled

    async def _take_lease(self, now: datetime) -> bool:
        with contextlib.suppress(PyMongoError):
            await self._leases.update_one(
                {"_id": _TICK_LEASE}, {"$setOnInsert": {"holder": None, "until": now}}, upsert=True
            )
        taken = await self._leases.find_one_and_update(
            {"_id": _TICK_LEASE, "$or": [{"until": {"$lte": now}}, {"holder": self._holder}]},
            {"$set": {"holder": self._holder, "until": now + self._lease}},
            return_document=ReturnDocument.AFTER,
        )
        return taken is not None

    async def tick(self) -> TickReport | None:
        """One pass over the due users; None when another replica holds the lease."""
        now = self._clock.now()
        if not await self._take_lease(now):
            return None
        started = time.perf_counter()
        report = TickReport()
        try:
            cursor = (
                self._states.find({"next_due_at": {"$lte": now}})
                .sort("next_due_at", ASCENDING)
                .limit(self._batch_size)
            )
            async for document in cursor:
                report.due += 1
                SCHEDULER_DUE.inc()
                await self._handle(document, now, report)
            await self._runs.insert_one(
                {"started_at": now, "holder": self._holder, **report.__dict__}
            )
        finally:
            SCHEDULER_TICK_SECONDS.observe(time.perf_counter() - started)
        if report.due:
            log.info("scheduler tick", **report.__dict__)
        return report

    async def _handle(self, document: Document, now: datetime, report: TickReport) -> None:
        state = to_rules_state(document, subscriptions_enabled=self._subscriptions_enabled)
        outcome = evaluate(state, now)
        if isinstance(outcome, Churn):
            await self._churn(document, now, report)
        elif isinstance(outcome, Skip):
            report.skipped += 1
            SCHEDULER_SKIPPED.labels(outcome.value).inc()
            # Only if nothing changed since the read; whoever changed it recomputes.
            await self._states.update_one(
                {"_id": document["_id"], REVISION: document.get(REVISION)},
                {"$set": {"next_due_at": next_due_at(state, now)}},
            )
        else:
            await self._send(document, state, outcome, now, report)

    async def _send(
        self,
        document: Document,
        state: ProactiveState,
        decision: Decision,
        now: datetime,
        report: TickReport,
    ) -> None:
        after, taken = claim(state, decision, now)
        event = new_event(
            ProactiveMessageDue(
                user_id=document["_id"],
                phone=document["phone"],
                kind=decision.kind.value,
                stage=decision.stage,
                due_at=now,
            ),
            idempotency_key=decision.idempotency_key,
            occurred_at=now,
        )
        changes = {
            **counter_fields(after),
            CLAIM: claim_document(taken),
            "next_due_at": next_due_at(after, now),
        }
        if not await self._claim_and_emit(document, changes, event, now):
            report.lost_races += 1
            SCHEDULER_SKIPPED.labels("lost_race").inc()
            return
        report.sent += 1
        SCHEDULER_SENT.labels(decision.kind.value).inc()

    async def _churn(self, document: Document, now: datetime, report: TickReport) -> None:
        event = new_event(
            UserChurned(user_id=document["_id"], phone=document["phone"], churned_at=now),
            idempotency_key=f"churned:{document['_id']}:{document.get('last_reactivation_at')}",
            occurred_at=now,
        )
        changes = {"journey_phase": "churned", "next_due_at": None, "churned_at": now}
        if not await self._claim_and_emit(document, changes, event, now):
            report.lost_races += 1
            SCHEDULER_SKIPPED.labels("lost_race").inc()
            return
        report.churned += 1
        SCHEDULER_CHURNED.inc()

    async def _claim_and_emit(
        self, document: Document, changes: Document, event: Envelope[Any], now: datetime
    ) -> bool:
        """Apply `changes` only if the document is still at the revision the decision read,
        together with `event`'s outbox row; False when another write came first."""
        read = {"_id": document["_id"], REVISION: document.get(REVISION)}

        async def claim_and_emit(session: AsyncClientSession) -> bool:
            result = await self._states.update_one(
                read, {"$set": changes, "$inc": {REVISION: 1}}, session=session
            )
            if result.modified_count == 0:
                return False
            await self._outbox.add(event, session)
            return True

        async with self._client.start_session() as session:
            claimed: bool = await session.with_transaction(claim_and_emit)
        self._outbox.notify()
        return claimed

    async def run(self, stop: asyncio.Event, interval_seconds: float) -> None:
        """Tick every `interval_seconds` until `stop`; a failed tick is logged and retried."""
        while not stop.is_set():
            try:
                await self.tick()
            except PyMongoError:
                log.warning("scheduler tick failed; retrying next interval", exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval_seconds)

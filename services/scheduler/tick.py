"""One scheduler tick: take the users that are due, decide, claim the 24 h slot, emit, advance.

Only one replica ticks at a time (a lease in `scheduler_leases`); even if two overlap, the slot
claim is a compare-and-set on the document's `revision` as the decision read it, so a user
cannot get two messages, nor one decided from a state that changed meanwhile, and the emitted
event's id derives from its idempotency key, so a replayed emission is a duplicate. The claim
and its event are one atomic write: one transaction with the outbox row, or, without
transactions, one document write that carries the event until the outbox row exists.
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
    EMISSION,
    PROACTIVE_STATE,
    REVISION,
    claim_document,
    counter_fields,
    to_rules_state,
)
from shared.clock import Clock
from shared.events import Envelope, new_event
from shared.events.catalog import EVENTS, ProactiveMessageDue, UserChurned
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
        transactions_with: MongoClient | None = None,
    ) -> None:
        """`transactions_with`: the client to run claim + emission in one transaction with;
        None where the server has none (the emission then follows the claim)."""
        self._client = transactions_with
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
        if document.get(EMISSION) is not None:
            await self._finish_emission(document, now, report)
            return
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
        if self._client is not None:

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
        # One document write: the claim carries its event and keeps the user due until the
        # outbox row exists; then the claim's own next_due_at is set.
        pending = {"event_id": str(event.id), "body": event.to_json()}
        result = await self._states.update_one(
            read,
            {"$set": {**changes, EMISSION: pending, "next_due_at": now}, "$inc": {REVISION: 1}},
        )
        if result.modified_count == 0:
            return False
        await self._outbox.add(event)
        revision = (document.get(REVISION) or 0) + 1
        await self._drop_emission(document["_id"], pending, revision, changes["next_due_at"], now)
        return True

    async def _drop_emission(
        self,
        user_id: str,
        pending: Document,
        revision: int | None,
        due: datetime | None,
        now: datetime,
    ) -> None:
        """The emission's outbox row exists: drop the carried event and set `due`, if nothing
        was written since `revision`; else set "now" (early is safe: the next tick recomputes)."""
        finished = await self._states.update_one(
            {"_id": user_id, REVISION: revision},
            {"$set": {"next_due_at": due}, "$unset": {EMISSION: ""}},
        )
        if finished.modified_count == 0:
            await self._states.update_one(
                {"_id": user_id, f"{EMISSION}.event_id": pending["event_id"]},
                {"$set": {"next_due_at": now}, "$unset": {EMISSION: ""}},
            )

    async def _finish_emission(self, document: Document, now: datetime, report: TickReport) -> None:
        """A claim whose tick stopped before its outbox row was written (no transactions)."""
        pending = document[EMISSION]
        stored = EVENTS.decode(pending["body"])
        # Wrapped again as it was made (same key, same id): a decoded envelope serialises only
        # the fields of its declared payload type.
        event = new_event(
            stored.payload,
            idempotency_key=stored.idempotency_key,
            correlation_id=stored.correlation_id,
            occurred_at=stored.occurred_at,
        )
        await self._outbox.add(event)
        state = to_rules_state(document, subscriptions_enabled=self._subscriptions_enabled)
        due = next_due_at(state, now)
        await self._drop_emission(document["_id"], pending, document.get(REVISION), due, now)
        log.warning("finished an emission a stopped tick had claimed", user_id=document["_id"])
        if isinstance(event.payload, ProactiveMessageDue):
            report.sent += 1
            SCHEDULER_SENT.labels(event.payload.kind).inc()
        elif isinstance(event.payload, UserChurned):
            report.churned += 1
            SCHEDULER_CHURNED.inc()

    async def run(self, stop: asyncio.Event, interval_seconds: float) -> None:
        """Tick every `interval_seconds` until `stop`; a failed tick is logged and retried."""
        while not stop.is_set():
            try:
                await self.tick()
            except PyMongoError:
                log.warning("scheduler tick failed; retrying next interval", exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval_seconds)
